// Package orgsettings is the contract for the organization's messaging
// settings: the document delivery keeps and checks (its GET and PUT
// /settings) and the console shows and edits. Both services read and
// write it through these types, so a field added on one side cannot be
// silently dropped or misread on the other.
package orgsettings

import "time"

// Settings are the editable values: texts are signed with the name,
// keyword replies in English and Spanish, the text-to-join keywords, when
// texts may arrive, the time zone for members with none, and frequency
// caps. Delivery validates them (services/delivery/settings).
type Settings struct {
	OrgName    string `json:"org_name"`
	HelpText   string `json:"help_text"`
	OptOutText string `json:"opt_out_text"`
	OptInText  string `json:"opt_in_text"`
	// The same replies in Spanish, for members who write in Spanish or
	// whose language is Spanish.
	HelpTextES   string `json:"help_text_es"`
	OptOutTextES string `json:"opt_out_text_es"`
	OptInTextES  string `json:"opt_in_text_es"`
	// JoinWords are the text-to-join keywords, comma-separated ("JOIN,
	// UNETE"); JoinText and JoinTextES welcome a member who texts one.
	JoinWords  string `json:"join_words"`
	JoinText   string `json:"join_text"`
	JoinTextES string `json:"join_text_es"`
	SendWindow string `json:"send_window"`
	TimeZone   string `json:"time_zone"`
	CapPerDay  int    `json:"cap_per_day"`
	CapPerWeek int    `json:"cap_per_week"`
	// ShiftAwareDefault starts members whose shift attribute is night
	// with the NIGHTS window (16:00-21:00 their time) until they choose
	// their own hours (events.SendRequested.DefaultWindow). Off by
	// default: turning it on holds some members' texts later than before.
	ShiftAwareDefault bool `json:"shift_aware_default"`
}

// Document is what GET /settings answers, and PUT /settings once saved:
// the settings and who changed them last, and when.
type Document struct {
	Settings  Settings  `json:"settings"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Change is what PUT /settings takes. A field the body leaves out keeps
// its current value (the receiver decodes over the current settings), so
// a client that predates a setting cannot blank it.
type Change struct {
	Settings
	// UpdatedBy names who made the change: the console sends the signed-in
	// admin or the token's name, never a name from a request body.
	UpdatedBy string `json:"updated_by"`
}
