package smsdouble

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/musterhq/muster/services/delivery/provider"
)

// Name labels the double in metrics, logs and evidence.
const Name = "double"

// Config says where the double is and where its reports go.
type Config struct {
	APIURL string
	Key    string
	// PublicURL is delivery's public base URL; reports are posted to
	// PublicURL + ReportsPath.
	PublicURL string
}

// Client sends texts through the double.
type Client struct {
	cfg Config
	hc  *http.Client
}

// NewClient builds a client.
func NewClient(cfg Config) *Client {
	return &Client{cfg: cfg, hc: &http.Client{Timeout: 5 * time.Second}}
}

// Send hands one text to the double. Failures are *provider.SendError
// values, classed from the double's fault codes.
func (c *Client) Send(ctx context.Context, m provider.SMS) (string, error) {
	req := textRequest{Recipient: m.To, Originator: m.From, Content: m.Body, Ref: m.MessageID,
		NotifyURL: strings.TrimRight(c.cfg.PublicURL, "/") + ReportsPath, TTLSeconds: int(m.Validity.Seconds())}
	if m.ServiceID != "" {
		req.Originator = "pool:" + m.ServiceID
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", &provider.SendError{Kind: provider.Permanent, Err: fmt.Errorf("encoding text: %w", err)}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.cfg.APIURL, "/")+TextsPath, bytes.NewReader(body))
	if err != nil {
		return "", &provider.SendError{Kind: provider.Permanent, Err: err}
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(KeyHeader, c.cfg.Key)
	resp, err := c.hc.Do(hr)
	if err != nil {
		return "", provider.FromTransport(err)
	}
	defer resp.Body.Close()
	var out struct {
		TextID string `json:"text_id"`
		Fault  string `json:"fault"`
	}
	decodeErr := json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode == http.StatusAccepted {
		if decodeErr != nil || out.TextID == "" {
			return "", &provider.SendError{Kind: provider.Ambiguous, Err: errors.New("double accepted without a text id")}
		}
		return out.TextID, nil
	}
	return "", classify(resp.StatusCode, out.Fault)
}

// classify maps the double's fault codes onto provider kinds.
func classify(status int, code string) error {
	err := fmt.Errorf("double answered %d %s", status, code)
	switch {
	case code == FaultKeyRevoked || status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &provider.SendError{Kind: provider.Unauthorized, Code: code, Err: err}
	case code == FaultOptedOut:
		return &provider.SendError{Kind: provider.Stopped, Code: code, Err: err}
	case code == FaultSlowDown || status == http.StatusTooManyRequests:
		return &provider.SendError{Kind: provider.Retryable, Code: code, Err: err}
	case status >= 500:
		return &provider.SendError{Kind: provider.Ambiguous, Code: code, Err: err}
	case code == FaultBadNumber || status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		return &provider.SendError{Kind: provider.Permanent, Code: code, Err: err}
	default:
		return &provider.SendError{Kind: provider.Ambiguous, Code: code, Err: err}
	}
}
