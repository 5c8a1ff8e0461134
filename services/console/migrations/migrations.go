// Package migrations embeds the console's schema: organizer accounts,
// sessions, API tokens and the audit log, applied at start-up and by the
// migrate subcommand.
package migrations

import "embed"

// FS holds the numbered SQL migrations.
//
//go:embed *.sql
var FS embed.FS
