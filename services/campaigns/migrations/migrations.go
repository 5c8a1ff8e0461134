// Package migrations embeds the campaigns service's schema, applied at
// start-up and by the migrate subcommand.
package migrations

import "embed"

// FS holds the numbered SQL migrations.
//
//go:embed *.sql
var FS embed.FS
