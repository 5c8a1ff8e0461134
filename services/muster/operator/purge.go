package operator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// purgeNow runs the retention purge of each service (or the one named)
// at once through its operator route, POST /purge, and prints what it
// did: "contacts import_reports=0 imports=1 import_files=0". The console
// has no operator API; its purge runs on its own timer.
func purgeNow(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	names := []string{"contacts", "campaigns", "delivery"}
	if len(args) > 1 {
		return fmt.Errorf("usage: muster purge-now [contacts|campaigns|delivery]")
	}
	if len(args) == 1 {
		if !slices.Contains(names, args[0]) {
			return fmt.Errorf("purge-now: %q has no purge an operator can run (want contacts, campaigns or delivery; the console purges on its own timer)", args[0])
		}
		names = args[:1]
	}
	signer, err := operatorSigner(cfg)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Minute}
	failed := 0
	for _, s := range cfg.services() {
		if !slices.Contains(names, s.name) {
			continue
		}
		line, err := purgeOne(ctx, client, signer.Authorize, s.name, s.url)
		if err != nil {
			failed++
			line = fmt.Sprintf("%s failed (%v)", s.name, err)
		}
		if _, err := fmt.Fprintln(out, line); err != nil {
			return fmt.Errorf("printing: %w", err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d purges failed", failed)
	}
	return nil
}

func purgeOne(ctx context.Context, client *http.Client, authorize func(*http.Request, string) error, name, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/purge", nil)
	if err != nil {
		return "", fmt.Errorf("%s url: %w", name, err)
	}
	if err := authorize(req, name); err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %s: %s", req.URL, resp.Status, strings.TrimSpace(string(raw)))
	}
	var res struct {
		Purged map[string]int64 `json:"purged"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return "", fmt.Errorf("reading %s's answer: %w", name, err)
	}
	keys := make([]string, 0, len(res.Purged))
	for k := range res.Purged {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := []string{name}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, res.Purged[k]))
	}
	if len(keys) == 0 {
		parts = append(parts, "nothing to purge")
	}
	return strings.Join(parts, " "), nil
}
