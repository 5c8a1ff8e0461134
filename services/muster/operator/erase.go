package operator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/musterhq/muster/shared/svcauth"
)

// erase asks contacts to erase a member (POST /contacts/{id}/erase) with
// the operator's service credentials: contacts removes them and tells
// campaigns and delivery. The console's audit log is not touched: an
// erasure from the console's member page clears it too.
func erase(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return fmt.Errorf("usage: muster erase <contact-id>")
	}
	signer, err := operatorSigner(cfg)
	if err != nil {
		return err
	}
	id := args[0]
	body, _ := json.Marshal(map[string]string{"by": "operator"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(cfg.ContactsURL, "/")+"/contacts/"+url.PathEscape(id)+"/erase", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("contacts url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := signer.Authorize(req, "contacts"); err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("erasing %s: %w", id, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("erasing %s: contacts answered %s: %s", id, resp.Status, strings.TrimSpace(string(raw)))
	}
	var res struct {
		ErasedBy string    `json:"erased_by"`
		ErasedAt time.Time `json:"erased_at"`
		Already  bool      `json:"already"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("reading contacts' answer: %w", err)
	}
	what := "erased"
	if res.Already {
		what = "already erased"
	}
	_, err = fmt.Fprintf(out, "%s %s (by %s, %s); campaigns and delivery follow from the ERASURE stream\n", what, id, res.ErasedBy, res.ErasedAt.UTC().Format(time.RFC3339))
	return err
}

// operatorSigner signs service tokens as "operator" with the operator's
// service key.
func operatorSigner(cfg Config) (*svcauth.Signer, error) {
	if cfg.ServiceKey == "" {
		return nil, fmt.Errorf("no operator service key: set MUSTER_OPERATOR_SERVICE_KEY or MUSTER_OPERATOR_SERVICE_KEY_FILE")
	}
	key, err := svcauth.ParsePrivateKey(cfg.ServiceKey)
	if err != nil {
		return nil, fmt.Errorf("MUSTER_OPERATOR_SERVICE_KEY: %w", err)
	}
	return svcauth.NewSigner("operator", key, time.Now)
}
