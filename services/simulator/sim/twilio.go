package sim

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/musterhq/muster/shared/phone"
)

const (
	apiVersion   = "2010-04-01"
	maxBodyChars = 1600
	maxFormBytes = 1 << 20
)

// Twilio error codes the simulator returns, as documented by Twilio.
const (
	codeAuthenticate  = 20003
	codeNotFound      = 20404
	codeInvalidTo     = 21211
	codeBodyRequired  = 21602
	codeFromRequired  = 21603
	codeToRequired    = 21604
	codeBodyTooLong   = 21617
	codeInvalidParams = 20001 // generic code for other malformed input
	codeUnsubscribed  = 21610
	codeTooMany       = 20429
	codeInternal      = 20500
	codeUnavailable   = 20503
)

// twilioError is Twilio's REST error body; twilio-go decodes it into
// client.TwilioRestError.
type twilioError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func writeTwilioError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, twilioError{
		Code:     code,
		Message:  msg,
		MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		Status:   status,
	})
}

// twilioMessage is Twilio's Message resource JSON, field for field what
// twilio-go's ApiV2010Message decodes.
type twilioMessage struct {
	AccountSid          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            string            `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                *string           `json:"from"`
	MessagingServiceSid *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	Sid                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

// errorMessages are Twilio's descriptions of common delivery error codes.
var errorMessages = map[string]string{
	"30003": "Unreachable destination handset",
	"30005": "Unknown destination handset",
	"30006": "Landline or unreachable carrier",
	"30007": "Message filtered",
	"30008": "Unknown error",
}

func toTwilioJSON(m Message) twilioMessage {
	const layout = time.RFC1123Z
	uri := fmt.Sprintf("/%s/Accounts/%s/Messages/%s", apiVersion, m.AccountSid, m.Sid)
	out := twilioMessage{
		AccountSid:  m.AccountSid,
		APIVersion:  apiVersion,
		Body:        m.Body,
		DateCreated: m.CreatedAt.UTC().Format(layout),
		DateSent:    m.CreatedAt.UTC().Format(layout),
		DateUpdated: m.UpdatedAt.UTC().Format(layout),
		Direction:   m.Direction,
		NumMedia:    "0",
		NumSegments: strconv.Itoa(m.NumSegments),
		PriceUnit:   "USD",
		Sid:         m.Sid,
		Status:      m.Status,
		SubresourceURIs: map[string]string{
			"media":    uri + "/Media.json",
			"feedback": uri + "/Feedback.json",
		},
		To:  m.To,
		URI: uri + ".json",
	}
	if m.From != "" {
		out.From = &m.From
	}
	if m.MessagingServiceSid != "" {
		out.MessagingServiceSid = &m.MessagingServiceSid
	}
	if m.ErrorCode != "" {
		if code, err := strconv.Atoi(m.ErrorCode); err == nil {
			out.ErrorCode = &code
		}
		if msg, ok := errorMessages[m.ErrorCode]; ok {
			out.ErrorMessage = &msg
		}
	}
	return out
}

// twilioAuth checks HTTP Basic credentials and the account in the path,
// writing the Twilio error itself and returning false when they fail.
func (s *Server) twilioAuth(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok ||
		subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.AccountSID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.AuthToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeTwilioError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate")
		return false
	}
	if chi.URLParam(r, "AccountSid") != s.cfg.AccountSID {
		writeTwilioError(w, http.StatusNotFound, codeNotFound,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return false
	}
	return true
}

func (s *Server) handleCreateMessage(w http.ResponseWriter, r *http.Request) {
	if !s.wait(w, r, maxFormBytes) {
		return
	}
	if !s.twilioAuth(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeTwilioError(w, http.StatusBadRequest, codeInvalidParams, "Invalid request body")
		return
	}
	to := r.PostForm.Get("To")
	from := r.PostForm.Get("From")
	mss := r.PostForm.Get("MessagingServiceSid")
	body := r.PostForm.Get("Body")
	switch {
	case to == "":
		writeTwilioError(w, http.StatusBadRequest, codeToRequired, "A 'To' phone number is required.")
		return
	case !phone.IsE164(to):
		writeTwilioError(w, http.StatusBadRequest, codeInvalidTo,
			fmt.Sprintf("The 'To' number %s is not a valid phone number.", to))
		return
	case from == "" && mss == "":
		writeTwilioError(w, http.StatusBadRequest, codeFromRequired, "A 'From' phone number is required.")
		return
	case body == "":
		writeTwilioError(w, http.StatusBadRequest, codeBodyRequired, "Message body is required.")
		return
	case utf8.RuneCountInString(body) > maxBodyChars:
		writeTwilioError(w, http.StatusBadRequest, codeBodyTooLong,
			"The concatenated message body exceeds the 1600 character limit.")
		return
	}
	validity := 0
	if v := r.PostForm.Get("ValidityPeriod"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 36000 {
			writeTwilioError(w, http.StatusBadRequest, codeInvalidParams,
				"ValidityPeriod must be an integer between 1 and 36000.")
			return
		}
		validity = n
	}

	fault, faulted := s.faults.match(func(rule string) bool { return rule == to })
	switch fault.Kind {
	case FaultRateLimited:
		writeTwilioError(w, http.StatusTooManyRequests, codeTooMany, "Too Many Requests")
		return
	case FaultServerError:
		writeTwilioError(w, http.StatusInternalServerError, codeInternal, "Internal Server Error")
		return
	case FaultUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeTwilioError(w, http.StatusUnauthorized, codeAuthenticate, "Authenticate")
		return
	case FaultForbidden:
		writeTwilioError(w, http.StatusForbidden, codeAuthenticate, "Permission Denied")
		return
	case FaultUnsubscribed:
		writeTwilioError(w, http.StatusBadRequest, codeUnsubscribed, "Attempt to send to unsubscribed recipient")
		return
	case FaultInvalidNumber:
		writeTwilioError(w, http.StatusBadRequest, codeInvalidTo,
			fmt.Sprintf("The 'To' number %s is not a valid phone number.", to))
		return
	}

	status := "queued"
	if from == "" {
		status = "accepted"
	}
	now := s.cfg.Clock().UTC()
	m := Message{
		Sid:                 newSID("SM"),
		AccountSid:          s.cfg.AccountSID,
		To:                  to,
		From:                from,
		MessagingServiceSid: mss,
		Body:                body,
		Status:              status,
		Direction:           directionAPI,
		NumSegments:         Segments(body),
		StatusCallback:      r.PostForm.Get("StatusCallback"),
		ValidityPeriod:      validity,
		CreatedAt:           now,
		UpdatedAt:           now,
	}
	if faulted {
		m.Fault = fault.Kind
	}
	s.msgs.add(m)
	s.scheduleCallbacks(m.Sid)
	switch fault.Kind {
	case FaultUnavailableAfterAccept:
		writeTwilioError(w, http.StatusServiceUnavailable, codeUnavailable, "Service Unavailable")
	case FaultTimeoutAfterAccept:
		s.hold(r, s.holdFor(fault))
	default:
		writeJSON(w, http.StatusCreated, toTwilioJSON(m))
	}
}

// twilioPage is one page of Twilio's message list.
type twilioPage struct {
	Messages        []twilioMessage `json:"messages"`
	Page            int             `json:"page"`
	PageSize        int             `json:"page_size"`
	Start           int             `json:"start"`
	End             int             `json:"end"`
	URI             string          `json:"uri"`
	FirstPageURI    string          `json:"first_page_uri"`
	NextPageURI     *string         `json:"next_page_uri"`
	PreviousPageURI *string         `json:"previous_page_uri"`
}

// handleListMessages is Twilio's message list, newest first, filtered by
// To and From. It serves one page of up to PageSize (default 50, at most
// 1,000) messages; there is no next page. Delivery's reconciler asks it
// whether a text whose send had no clear answer reached Twilio.
func (s *Server) handleListMessages(w http.ResponseWriter, r *http.Request) {
	if !s.twilioAuth(w, r) {
		return
	}
	q := r.URL.Query()
	size := 50
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeTwilioError(w, http.StatusBadRequest, codeInvalidParams, "PageSize must be between 1 and 1000")
			return
		}
		size = n
	}
	to, from := q.Get("To"), q.Get("From")
	all := s.msgs.list(to)
	page := twilioPage{Messages: []twilioMessage{}, PageSize: size, URI: r.URL.RequestURI(), FirstPageURI: r.URL.RequestURI()}
	for i := len(all) - 1; i >= 0 && len(page.Messages) < size; i-- {
		m := all[i]
		if m.Direction != directionAPI || (from != "" && m.From != from) {
			continue
		}
		page.Messages = append(page.Messages, toTwilioJSON(m))
	}
	page.End = max(len(page.Messages)-1, 0)
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) handleFetchMessage(w http.ResponseWriter, r *http.Request) {
	if !s.twilioAuth(w, r) {
		return
	}
	m, ok := s.msgs.get(chi.URLParam(r, "Sid"))
	if !ok {
		writeTwilioError(w, http.StatusNotFound, codeNotFound,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return
	}
	writeJSON(w, http.StatusOK, toTwilioJSON(m))
}
