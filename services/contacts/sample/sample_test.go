package sample

import (
	"bytes"
	"strings"
	"testing"

	"github.com/musterhq/muster/services/contacts/contact"
)

// TestPhonesAreValidAndDistinct checks the generator's promise over a
// spread of rows, so benchmarks never measure rejected rows by accident.
func TestPhonesAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 9_999, 10_000, 110_000, 999_999, 1_000_000, 3_999_999, 4_000_000, 12_345_678} {
		p := Phone(i)
		got, err := contact.ParsePhone("("+p[2:5]+") "+p[5:8]+"-"+p[8:], "US")
		if err != nil || string(got) != p {
			t.Errorf("row %d: phone %s parses as %q, %v", i, p, got, err)
		}
		if seen[p] {
			t.Errorf("row %d: phone %s repeats", i, p)
		}
		seen[p] = true
	}
	var b bytes.Buffer
	if err := Write(&b, 5, 8); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || lines[0] != Header || !strings.HasPrefix(lines[1], "M0000005,") {
		t.Errorf("Write(5, 8) = %q", lines)
	}
}
