package contact

import (
	"testing"

	"github.com/musterhq/muster/shared/apperr"
)

func TestParsePhone(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"(212) 555-0134", "+12125550134", true},
		{"212.555.0134", "+12125550134", true},
		{"+1 212 555 0134", "+12125550134", true},
		{"1-212-555-0134", "+12125550134", true},
		{"+44 20 7946 0958", "+442079460958", true},
		{"555-CALL-NOW", "", false},
		{"123", "", false},
		{"", "", false},
		{"(000) 000-0000", "", false},
	}
	for _, c := range cases {
		got, err := ParsePhone(c.in, "US")
		if (err == nil) != c.ok {
			t.Errorf("ParsePhone(%q) err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if err != nil && apperr.FieldOf(err) != "phone" {
			t.Errorf("ParsePhone(%q) error names field %q, want phone", c.in, apperr.FieldOf(err))
		}
		if string(got) != c.want {
			t.Errorf("ParsePhone(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseEmail(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"Ana.Ruiz@Local1199.ORG", "ana.ruiz@local1199.org", true},
		{" ana@x.org ", "ana@x.org", true},
		{"ana@", "", false},
		{"ana@localhost", "", false},
		{"Ana <ana@x.org>", "", false},
		{"not an email", "", false},
	}
	for _, c := range cases {
		got, err := ParseEmail(c.in)
		if (err == nil) != c.ok || string(got) != c.want {
			t.Errorf("ParseEmail(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestNormalize(t *testing.T) {
	c, err := Draft{FirstName: " Ana ", Phone: "212-555-0134", Tags: []string{"Night Shift", "night shift ", ""}, TimeZone: "America/New_York"}.Normalize("US")
	if err != nil {
		t.Fatal(err)
	}
	if c.FirstName != "Ana" || c.Phone != "+12125550134" || len(c.Tags) != 1 || c.Tags[0] != "night shift" {
		t.Errorf("normalized = %+v", c)
	}
	if _, err := (Draft{FirstName: "x"}).Normalize("US"); err == nil {
		t.Error("a contact with no phone and no email was accepted")
	}
	if _, err := (Draft{Phone: "212-555-0134", TimeZone: "Mars/Olympus"}).Normalize("US"); apperr.FieldOf(err) != "time_zone" {
		t.Errorf("bad time zone: err = %v", err)
	}
}
