package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Import states. An import is queued until a worker takes it, running
// while batches commit, then done or failed. One whose process died (or
// was stopped) is interrupted: the batches it committed stay, and running
// the same file again completes it without duplicates.
const (
	ImportQueued      = "queued"
	ImportRunning     = "running"
	ImportDone        = "done"
	ImportFailed      = "failed"
	ImportInterrupted = "interrupted"
)

// staleAfter is how long a running import may go without a heartbeat
// before it is reported interrupted (its process is gone).
const staleAfter = 2 * time.Minute

// ImportCounts is what an import did with its rows. Every row read is
// exactly one of new, updated, unchanged, merged or rejected.
type ImportCounts struct {
	Read      int64 `json:"rows_read"`
	New       int64 `json:"new"`
	Updated   int64 `json:"updated"`
	Unchanged int64 `json:"unchanged"`
	// Merged rows repeat a contact an earlier row of the same file made or
	// changed, by member id, phone or email; the report has a note for each.
	Merged   int64 `json:"merged"`
	Rejected int64 `json:"rejected"`
	// OptOuts are opt-outs read from the file and recorded in the ledger.
	OptOuts int64 `json:"opt_outs"`
}

// Add sums counts.
func (c *ImportCounts) Add(o ImportCounts) {
	c.Read += o.Read
	c.New += o.New
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
	c.Merged += o.Merged
	c.Rejected += o.Rejected
	c.OptOuts += o.OptOuts
}

// Import is one CSV import and its progress.
type Import struct {
	ID     string `json:"id"`
	Source string `json:"source,omitempty"`
	DryRun bool   `json:"dry_run"`
	State  string `json:"state"`
	Error  string `json:"error,omitempty"`
	// Mapping says which field each column went to (see importer.Column).
	Mapping  json.RawMessage `json:"mapping"`
	Warnings []string        `json:"warnings"`
	Bytes    int64           `json:"bytes"`
	ImportCounts
	// Imported is every row read that was not rejected.
	Imported   int64      `json:"imported"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// CreateImport records an accepted upload as queued.
func (s *Store) CreateImport(ctx context.Context, imp Import) error {
	if imp.Warnings == nil {
		imp.Warnings = []string{}
	}
	warnings, _ := json.Marshal(imp.Warnings) // a list of strings always encodes
	_, err := s.pool.Exec(ctx, `
		INSERT INTO imports (id, source, dry_run, state, mapping, warnings, bytes, created_at, heartbeat_at)
		VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $7)`,
		imp.ID, imp.Source, imp.DryRun, string(imp.Mapping), string(warnings), imp.Bytes, s.now())
	if err != nil {
		return fmt.Errorf("recording import: %w", err)
	}
	return nil
}

// StartImport marks an import running.
func (s *Store) StartImport(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE imports SET state = 'running', started_at = $2, heartbeat_at = $2 WHERE id = $1`, id, s.now())
	if err != nil {
		return fmt.Errorf("starting import %s: %w", id, err)
	}
	return nil
}

// TouchImports beats the heartbeat of imports still waiting in a queue.
func (s *Store) TouchImports(ctx context.Context, ids []string) error {
	_, err := s.pool.Exec(ctx, `UPDATE imports SET heartbeat_at = $2 WHERE id = ANY ($1::text[]::uuid[]) AND state = 'queued'`, ids, s.now())
	if err != nil {
		return fmt.Errorf("beating import heartbeats: %w", err)
	}
	return nil
}

// ImportIssue is one line of an import's report.
type ImportIssue struct {
	Line int64
	// Kind is "rejected" or "merged".
	Kind      string
	Column    string
	Reason    string
	ContactID string
}

// Issue kinds.
const (
	IssueRejected = "rejected"
	IssueMerged   = "merged"
)

// ImportProgress adds one batch's counts and report lines and beats the
// heartbeat, in one transaction so the report never runs ahead of the
// counts.
func (s *Store) ImportProgress(ctx context.Context, id string, batch ImportCounts, issues []ImportIssue) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(issues) > 0 {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"import_issues"},
				[]string{"import_id", "line", "kind", "column_name", "reason", "contact_id"},
				pgx.CopyFromSlice(len(issues), func(i int) ([]any, error) {
					is := issues[i]
					var contactID any
					if is.ContactID != "" {
						contactID = is.ContactID
					}
					return []any{id, is.Line, is.Kind, is.Column, is.Reason, contactID}, nil
				}))
			if err != nil {
				return fmt.Errorf("writing import report: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `
			UPDATE imports SET rows_read = rows_read + $2, rows_new = rows_new + $3, rows_updated = rows_updated + $4,
				rows_unchanged = rows_unchanged + $5, rows_merged = rows_merged + $6, rows_rejected = rows_rejected + $7,
				opt_outs = opt_outs + $8, heartbeat_at = $9
			WHERE id = $1`, id, batch.Read, batch.New, batch.Updated, batch.Unchanged, batch.Merged, batch.Rejected, batch.OptOuts, s.now())
		if err != nil {
			return fmt.Errorf("recording import progress: %w", err)
		}
		return nil
	})
}

// FinishImport records how an import ended.
func (s *Store) FinishImport(ctx context.Context, id, state, message string) error {
	_, err := s.pool.Exec(ctx, `UPDATE imports SET state = $2, error = $3, finished_at = $4, heartbeat_at = $4 WHERE id = $1`,
		id, state, message, s.now())
	if err != nil {
		return fmt.Errorf("finishing import %s: %w", id, err)
	}
	return nil
}

// GetImport reads an import. A running import whose heartbeat stopped is
// reported interrupted: its process is gone.
func (s *Store) GetImport(ctx context.Context, id string) (Import, error) {
	if !events.IsUUID(id) {
		return Import{}, apperr.NotFound("no import %s", id)
	}
	var imp Import
	var mapping, warnings string
	var heartbeat time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT id::text, source, dry_run, state, error, mapping::text, warnings::text, bytes,
			rows_read, rows_new, rows_updated, rows_unchanged, rows_merged, rows_rejected, opt_outs,
			created_at, started_at, finished_at, heartbeat_at
		FROM imports WHERE id = $1::uuid`, id).Scan(&imp.ID, &imp.Source, &imp.DryRun, &imp.State, &imp.Error, &mapping, &warnings, &imp.Bytes,
		&imp.Read, &imp.New, &imp.Updated, &imp.Unchanged, &imp.Merged, &imp.Rejected, &imp.OptOuts,
		&imp.CreatedAt, &imp.StartedAt, &imp.FinishedAt, &heartbeat)
	if errors.Is(err, pgx.ErrNoRows) {
		return Import{}, apperr.NotFound("no import %s", id)
	}
	if err != nil {
		return Import{}, fmt.Errorf("reading import %s: %w", id, err)
	}
	imp.Mapping = json.RawMessage(mapping)
	if err := json.Unmarshal([]byte(warnings), &imp.Warnings); err != nil {
		return Import{}, fmt.Errorf("reading import %s warnings: %w", id, err)
	}
	if (imp.State == ImportRunning || imp.State == ImportQueued) && s.now().Sub(heartbeat) > staleAfter {
		imp.State = ImportInterrupted
		imp.Error = "the service stopped while importing; upload the same file again to finish (rows already imported are not duplicated)"
	}
	imp.Imported = imp.Read - imp.Rejected
	return imp, nil
}

// EachImportIssue streams an import's report lines of one kind in line
// order.
func (s *Store) EachImportIssue(ctx context.Context, id, kind string, fn func(ImportIssue) error) error {
	rows, err := s.pool.Query(ctx, `
		SELECT line, kind, column_name, reason, coalesce(contact_id::text, '')
		FROM import_issues WHERE import_id = $1::uuid AND kind = $2 ORDER BY line, column_name`, id, kind)
	if err != nil {
		return fmt.Errorf("reading import report: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var is ImportIssue
		if err := rows.Scan(&is.Line, &is.Kind, &is.Column, &is.Reason, &is.ContactID); err != nil {
			return fmt.Errorf("reading import report: %w", err)
		}
		if err := fn(is); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading import report: %w", err)
	}
	return nil
}

// ImportSession holds one connection for a whole import: its staging
// table is a temporary table of that connection. A dry run keeps one
// transaction open across every batch and rolls it back at the end, so it
// sees its own earlier batches (a later row merging into an earlier one is
// counted right) and commits nothing.
type ImportSession struct {
	conn     *pgxpool.Conn
	importID string
	dry      pgx.Tx
	now      func() time.Time
	store    *Store
}

// OpenImport starts an import session.
func (s *Store) OpenImport(ctx context.Context, importID string, dryRun bool) (*ImportSession, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquiring connection for import: %w", err)
	}
	_, err = conn.Exec(ctx, `
		CREATE TEMP TABLE IF NOT EXISTS import_stage (
			ord        integer NOT NULL,
			id         uuid NOT NULL,
			member_id  text NOT NULL,
			first_name text NOT NULL,
			last_name  text NOT NULL,
			phone      text NOT NULL,
			email      text NOT NULL,
			time_zone  text NOT NULL,
			language   text NOT NULL,
			tags       text[] NOT NULL,
			attributes jsonb NOT NULL,
			line       bigint NOT NULL,
			existing   boolean NOT NULL,
			assignee_id         text NOT NULL DEFAULT '',
			assignee_name       text NOT NULL DEFAULT '',
			assignee_first_name text NOT NULL DEFAULT ''
		)`)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("creating import staging table: %w", err)
	}
	is := &ImportSession{conn: conn, importID: importID, now: s.now, store: s}
	if dryRun {
		if is.dry, err = conn.Begin(ctx); err != nil {
			conn.Release()
			return nil, fmt.Errorf("beginning dry run: %w", err)
		}
	}
	return is, nil
}

// Close ends the session; a dry run's changes are rolled back here.
func (is *ImportSession) Close(ctx context.Context) {
	if is.dry != nil {
		_ = is.dry.Rollback(context.WithoutCancel(ctx))
	}
	is.conn.Release()
}

// Batch runs fn in a transaction of its own (in a real run) that holds a
// SHARE ROW EXCLUSIVE lock on contacts: nothing else writes contacts
// between the batch's lookup and its merge, so the matches it computed
// stay true. Readers (audience pages, lists) are not blocked; a create or
// edit waits for one batch at most.
func (is *ImportSession) Batch(ctx context.Context, fn func(*ImportBatch) error) error {
	if is.dry != nil {
		return fn(&ImportBatch{tx: is.dry, importID: is.importID, now: is.now(), store: is.store})
	}
	return pgx.BeginFunc(ctx, is.conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE contacts IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("locking contacts for an import batch: %w", err)
		}
		return fn(&ImportBatch{tx: tx, importID: is.importID, now: is.now(), store: is.store})
	})
}

// ImportBatch is one batch's view of the database.
type ImportBatch struct {
	tx       pgx.Tx
	importID string
	now      time.Time // when the batch began, by the store's clock
	store    *Store
}

// Existing is a contact a batch row may match.
type Existing struct {
	ID       string
	MemberID string
	Phone    string
	Email    string
	// ImportLine is the line of this import that created or last changed
	// the contact, 0 when another import or an organizer did.
	ImportLine int64
}

// Lookup finds every contact holding one of the given member ids, phones
// or emails, in one query over the three unique indexes.
func (b *ImportBatch) Lookup(ctx context.Context, memberIDs, phones, emails []string) ([]Existing, error) {
	rows, err := b.tx.Query(ctx, `
		SELECT id::text, coalesce(member_id, ''), coalesce(phone, ''), coalesce(email, ''),
			CASE WHEN import_id = $4::uuid THEN coalesce(import_line, 0) ELSE 0 END
		FROM contacts
		WHERE member_id = ANY ($1::text[]) OR phone = ANY ($2::text[]) OR email = ANY ($3::text[])`,
		memberIDs, phones, emails, b.importID)
	if err != nil {
		return nil, fmt.Errorf("matching import rows: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Existing])
	if err != nil {
		return nil, fmt.Errorf("matching import rows: %w", err)
	}
	return list, nil
}

// StageRow is one contact a batch creates (an ID no contact has) or
// updates (an existing contact's ID). Empty fields leave what the contact
// has; tags and attributes are added to.
type StageRow struct {
	ID         string
	MemberID   string
	FirstName  string
	LastName   string
	Phone      string
	Email      string
	TimeZone   string
	Language   string
	Tags       []string
	Attributes map[string]string
	// AttributesJSON, when set, is Attributes already encoded.
	AttributesJSON string
	Line           int64
	// Existing is true for a contact that exists, false for a new one.
	Existing bool
	// Assignee, when it has an id, is who AssignStaged assigns the
	// contact to; the zero Assignee leaves the contact's as it is.
	Assignee Assignee
}

// Merged says what one batch's merge did.
type Merged struct {
	// Inserted counts new contacts.
	Inserted int
	// Changed holds the ids of existing contacts the merge changed; the
	// others it left as they were.
	Changed map[string]bool
}

// Merge copies the rows into the staging table with COPY and merges them
// into contacts with one statement: an UPDATE of the existing contacts and
// an INSERT of the new ones, both set-based over the staging table. An
// update only fills and adds (a blank cell never erases), and a row that
// would change nothing is not written at all. Which rows exist was decided
// under the batch's lock, so the INSERT needs no ON CONFLICT (and is
// cheaper for it); a unique violation here means contacts changed under
// a dry run, and the batch fails rather than guess.
func (b *ImportBatch) Merge(ctx context.Context, rows []StageRow) (Merged, error) {
	out := Merged{Changed: map[string]bool{}}
	if len(rows) == 0 {
		return out, nil
	}
	if _, err := b.tx.Exec(ctx, `TRUNCATE import_stage`); err != nil {
		return out, fmt.Errorf("clearing import staging table: %w", err)
	}
	_, err := b.tx.CopyFrom(ctx, pgx.Identifier{"import_stage"},
		[]string{"ord", "id", "member_id", "first_name", "last_name", "phone", "email", "time_zone", "language", "tags", "attributes", "line", "existing",
			"assignee_id", "assignee_name", "assignee_first_name"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			tags := r.Tags
			if tags == nil {
				tags = []string{}
			}
			var attrs any = r.AttributesJSON
			switch {
			case r.AttributesJSON != "":
			case r.Attributes == nil:
				attrs = "{}"
			default:
				attrs = r.Attributes
			}
			return []any{i, r.ID, r.MemberID, r.FirstName, r.LastName, r.Phone, r.Email, r.TimeZone, r.Language, tags, attrs, r.Line, r.Existing,
				r.Assignee.ID, r.Assignee.Name, r.Assignee.FirstName}, nil
		}))
	if err != nil {
		return out, fmt.Errorf("staging import rows: %w", err)
	}
	res, err := b.tx.Query(ctx, `
		WITH upd AS (
			UPDATE contacts AS c SET
				member_id   = coalesce(nullif(s.member_id, ''), c.member_id),
				first_name  = coalesce(nullif(s.first_name, ''), c.first_name),
				last_name   = coalesce(nullif(s.last_name, ''), c.last_name),
				phone       = coalesce(nullif(s.phone, ''), c.phone),
				email       = coalesce(nullif(s.email, ''), c.email),
				time_zone   = coalesce(nullif(s.time_zone, ''), c.time_zone),
				language    = coalesce(nullif(s.language, ''), c.language),
				tags        = c.tags || ARRAY(SELECT t FROM unnest(s.tags) WITH ORDINALITY AS u(t, n)
				                              WHERE t <> ALL (c.tags) ORDER BY n),
				attributes  = c.attributes || s.attributes,
				import_id   = $1::uuid,
				import_line = CASE WHEN c.import_id = $1::uuid THEN c.import_line ELSE s.line END,
				updated_at  = $2
			FROM import_stage AS s
			WHERE s.existing AND c.id = s.id
				AND ((c.member_id, c.first_name, c.last_name, c.phone, c.email, c.time_zone, c.language)
					IS DISTINCT FROM (coalesce(nullif(s.member_id, ''), c.member_id),
						coalesce(nullif(s.first_name, ''), c.first_name),
						coalesce(nullif(s.last_name, ''), c.last_name),
						coalesce(nullif(s.phone, ''), c.phone), coalesce(nullif(s.email, ''), c.email),
						coalesce(nullif(s.time_zone, ''), c.time_zone),
						coalesce(nullif(s.language, ''), c.language))
					OR NOT c.tags @> s.tags
					OR NOT c.attributes @> s.attributes)
			RETURNING c.id::text AS id, false AS inserted),
		ins AS (
			INSERT INTO contacts (id, member_id, first_name, last_name, phone, email, time_zone, language,
				tags, attributes, import_id, import_line, created_at, updated_at)
			SELECT s.id, nullif(s.member_id, ''), s.first_name, s.last_name, nullif(s.phone, ''), nullif(s.email, ''),
				s.time_zone, s.language, s.tags, s.attributes, $1::uuid, s.line, $2, $2
			FROM import_stage AS s WHERE NOT s.existing ORDER BY s.ord
			RETURNING id::text AS id, true AS inserted)
		SELECT id, inserted FROM upd UNION ALL SELECT id, inserted FROM ins`, b.importID, b.now)
	if err != nil {
		return out, fmt.Errorf("merging import rows: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var id string
		var inserted bool
		if err := res.Scan(&id, &inserted); err != nil {
			return out, fmt.Errorf("reading merge result: %w", err)
		}
		if inserted {
			out.Inserted++
		} else {
			out.Changed[id] = true
		}
	}
	if err := res.Err(); err != nil {
		if conflict := uniqueConflict(err); conflict != nil {
			return out, fmt.Errorf("merging import rows: contacts changed while the batch ran (%v): %w", conflict, err)
		}
		return out, fmt.Errorf("merging import rows: %w", err)
	}
	// An erased member's address imported again is opted out, as the
	// erasure left it.
	addrs := make([]events.ErasedAddress, 0, 2*len(rows))
	for _, r := range rows {
		if r.Phone != "" {
			addrs = append(addrs, events.ErasedAddress{Channel: events.ChannelSMS, Address: r.Phone})
		}
		if r.Email != "" {
			addrs = append(addrs, events.ErasedAddress{Channel: events.ChannelEmail, Address: r.Email})
		}
	}
	if err := b.store.carryErasedOptOuts(ctx, b.tx, addrs, "import "+b.importID); err != nil {
		return out, err
	}
	return out, nil
}

// AssignStaged gives each contact the last Merge staged with an assignee
// that assignee, recording each change in contact_assignments with the
// source and who ran the import, as Assign does; a contact that already
// has that assignee is not written. It returns the ids of the existing
// contacts (not those the merge inserted) whose assignee changed.
func (b *ImportBatch) AssignStaged(ctx context.Context, source, by string) ([]string, error) {
	rows, err := b.tx.Query(ctx, `
		WITH changed AS (
			UPDATE contacts c SET assignee_id = s.assignee_id, assignee_name = s.assignee_name,
				assignee_first_name = s.assignee_first_name, updated_at = $1
			FROM import_stage s, contacts old
			WHERE s.assignee_id <> '' AND c.id = s.id AND old.id = c.id
				AND (c.assignee_id, c.assignee_name, c.assignee_first_name)
					IS DISTINCT FROM (s.assignee_id, s.assignee_name, s.assignee_first_name)
			RETURNING c.id, s.assignee_id, s.assignee_name, old.assignee_id AS previous_id, s.existing),
		history AS (
			INSERT INTO contact_assignments (contact_id, assignee_id, assignee_name, previous_id, source, changed_by, changed_at)
			SELECT id, assignee_id, assignee_name, previous_id, $2, $3, $1 FROM changed)
		SELECT id::text FROM changed WHERE existing`, b.now, source, by)
	if err != nil {
		return nil, fmt.Errorf("assigning imported contacts: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("assigning imported contacts: %w", err)
	}
	return ids, nil
}

// ImportOptOut is an opt-out read from an import row.
type ImportOptOut struct {
	Channel  string
	Address  string
	EventID  string
	Evidence string
	// Event is the consent.changed event to publish, as JSON.
	Event string
}

// OptInEvidence is one ledger entry saying how an address came in.
type OptInEvidence struct {
	Channel, Address, EventID, Evidence string
}

// RecordOptInEvidence writes the new contacts' opt-in evidence (source
// import, file and line) to the consent ledger in the batch's
// transaction. It changes no consent: the union's "subscribed" entries
// are evidence only (see latestConsent).
func (b *ImportBatch) RecordOptInEvidence(ctx context.Context, list []OptInEvidence, at time.Time) error {
	if len(list) == 0 {
		return nil
	}
	n := len(list)
	channels, addrs, ids, evidence := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, e := range list {
		channels[i], addrs[i], ids[i], evidence[i] = e.Channel, e.Address, e.EventID, e.Evidence
	}
	_, err := b.tx.Exec(ctx, `
		INSERT INTO consent_ledger (event_id, channel, address, change, source, evidence, occurred_at, recorded_at)
		SELECT id, ch, addr, $5, $6, ev, $7, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(id, ch, addr, ev)
		ON CONFLICT (event_id) DO NOTHING`,
		ids, channels, addrs, evidence, events.ConsentSubscribed, events.SourceImport, at)
	if err != nil {
		return fmt.Errorf("recording opt-in evidence: %w", err)
	}
	return nil
}

// RecordOptOuts writes the batch's opt-outs: for each address not already
// opted out, the consent state, a ledger entry (source import, evidence
// naming file, line and column) and an outbox event for delivery, in the
// batch's transaction. Opt-ins are never read from a file, so an import
// cannot lift an opt-out. Addresses must be distinct. It returns how many
// addresses it opted out.
func (b *ImportBatch) RecordOptOuts(ctx context.Context, list []ImportOptOut, at time.Time) (int64, error) {
	if len(list) == 0 {
		return 0, nil
	}
	n := len(list)
	channels, addrs, ids, evidence, payloads := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, o := range list {
		channels[i], addrs[i], ids[i], evidence[i], payloads[i] = o.Channel, o.Address, o.EventID, o.Evidence, o.Event
	}
	_, err := b.tx.Exec(ctx, `
		SELECT count(pg_advisory_xact_lock(h)) FROM (
			SELECT DISTINCT hashtextextended(ch || ':' || addr, 7) AS h
			FROM unnest($1::text[], $2::text[]) AS u(ch, addr) ORDER BY 1) AS x`, channels, addrs)
	if err != nil {
		return 0, fmt.Errorf("locking opted-out addresses: %w", err)
	}
	tag, err := b.tx.Exec(ctx, `
		WITH o AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
				AS o(channel, address, event_id, evidence, payload)),
		s AS (
			INSERT INTO consent (channel, address, status, source, changed_at)
			SELECT channel, address, 'opted_out', 'import', $6 FROM o
			ON CONFLICT (channel, address) DO UPDATE
			SET status = 'opted_out', source = 'import', changed_at = excluded.changed_at
			WHERE consent.status <> 'opted_out'
			RETURNING channel, address),
		l AS (
			INSERT INTO consent_ledger (event_id, channel, address, change, source, evidence, occurred_at, recorded_at)
			SELECT o.event_id, o.channel, o.address, 'opted_out', 'import', o.evidence, $6, $7
			FROM o JOIN s USING (channel, address)
			ON CONFLICT (event_id) DO NOTHING
			RETURNING event_id)
		INSERT INTO outbox (subject, msg_id, payload, created_at)
		SELECT '`+events.SubjectConsentChanged+`', o.event_id, convert_to(o.payload, 'UTF8'), $7 FROM o JOIN l USING (event_id)`,
		channels, addrs, ids, evidence, payloads, at, b.now)
	if err != nil {
		return 0, fmt.Errorf("recording opt-outs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Analyze refreshes the planner's statistics on contacts and consent, so
// audience queries plan well right after a large import.
func (s *Store) Analyze(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `ANALYZE contacts; ANALYZE consent`); err != nil {
		return fmt.Errorf("analyzing contacts: %w", err)
	}
	return nil
}
