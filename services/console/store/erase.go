package store

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// ForgetMember removes an erased member from what the console keeps: each
// of terms (their phone number, email and name, as typed into audit
// entries by organizers) is replaced by "[erased]" in the audit log's
// targets and details, and organizers' read marks on their conversations
// (kept by contact id or address) are deleted. Terms shorter than 3
// characters are skipped: they would blank common words.
func (s *Store) ForgetMember(ctx context.Context, contactID string, terms []string) error {
	var quoted []string
	for _, t := range terms {
		if t = strings.TrimSpace(t); len(t) >= 3 {
			quoted = append(quoted, regexp.QuoteMeta(t))
		}
	}
	conversations := []string{"c:" + contactID}
	for _, t := range terms {
		if t = strings.TrimSpace(t); t != "" {
			conversations = append(conversations, "a:"+t)
		}
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM inbox_touches WHERE conversation = ANY($1)`, conversations); err != nil {
		return fmt.Errorf("forgetting an erased member's conversations: %w", err)
	}
	if len(quoted) == 0 {
		return nil
	}
	pattern := strings.Join(quoted, "|")
	if _, err := s.pool.Exec(ctx, `UPDATE audit_log SET target = regexp_replace(target, $1, '[erased]', 'gi'),
			detail = regexp_replace(detail, $1, '[erased]', 'gi')
		WHERE target ~* $1 OR detail ~* $1`, pattern); err != nil {
		return fmt.Errorf("forgetting an erased member in the audit log: %w", err)
	}
	return nil
}
