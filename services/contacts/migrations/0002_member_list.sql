-- +goose Up
-- Issue 3: imports, search, audiences as filters, the organizer side of
-- consent.

-- Trigram indexes make free-text search on names fast. pg_trgm ships with
-- PostgreSQL and is on every managed service's allow-list.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- member_id is the union's own member number, the strongest key an import
-- matches on. import_id and import_line say which import row created or
-- last changed a contact, so an import can tell a row that repeats an
-- earlier row of the same file (a merge) from one matching an old contact.
ALTER TABLE contacts
    ADD COLUMN member_id   text UNIQUE,
    ADD COLUMN import_id   uuid,
    ADD COLUMN import_line bigint;

-- Sort orders for listing, each ending in id so cursors are exact.
CREATE INDEX contacts_created_idx ON contacts (created_at, id);
CREATE INDEX contacts_name_idx ON contacts (lower(last_name), lower(first_name), id);
-- Free text on the name: q= and {"text": ...}.
CREATE INDEX contacts_name_trgm_idx ON contacts USING gin ((first_name || ' ' || last_name) gin_trgm_ops);
-- Worksite is the field organizers filter on most, and it has enough
-- distinct values to be selective; filters compare lower(...), so the
-- index is on the same expression. Fields with a handful of values
-- (language, employer, shift) are left to the scan: at 100,000 contacts
-- it takes milliseconds, and each index would cost every import.
CREATE INDEX contacts_worksite_idx ON contacts (lower(attributes ->> 'worksite'));

-- The current opted-out addresses, for the audience anti-join.
CREATE INDEX consent_opted_out_idx ON consent (channel, address) WHERE status = 'opted_out';

-- One row per CSV import, its progress visible while it runs.
CREATE TABLE imports (
    id             uuid PRIMARY KEY,
    source         text NOT NULL DEFAULT '',
    dry_run        boolean NOT NULL DEFAULT false,
    state          text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'interrupted')),
    error          text NOT NULL DEFAULT '',
    mapping        jsonb NOT NULL DEFAULT '[]',
    warnings       jsonb NOT NULL DEFAULT '[]',
    bytes          bigint NOT NULL DEFAULT 0,
    rows_read      bigint NOT NULL DEFAULT 0,
    rows_new       bigint NOT NULL DEFAULT 0,
    rows_updated   bigint NOT NULL DEFAULT 0,
    rows_unchanged bigint NOT NULL DEFAULT 0,
    rows_merged    bigint NOT NULL DEFAULT 0,
    rows_rejected  bigint NOT NULL DEFAULT 0,
    opt_outs       bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    heartbeat_at   timestamptz NOT NULL DEFAULT now()
);

-- The per-row report: rejected rows (why, and which column) and rows merged
-- into another row of the same file.
CREATE TABLE import_issues (
    import_id   uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    line        bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('rejected', 'merged')),
    column_name text NOT NULL DEFAULT '',
    reason      text NOT NULL,
    contact_id  uuid
);
CREATE INDEX import_issues_idx ON import_issues (import_id, kind, line);

-- Consent changes contacts itself makes (organizer opt-outs, opt-outs read
-- from an import) are written here in the same transaction as the ledger,
-- then published to CONSENT for delivery: a crash between the two cannot
-- lose an opt-out.
CREATE TABLE consent_outbox (
    event_id   text PRIMARY KEY,
    event      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE consent_outbox;
DROP TABLE import_issues;
DROP TABLE imports;
DROP INDEX consent_opted_out_idx;
ALTER TABLE contacts DROP COLUMN import_line, DROP COLUMN import_id, DROP COLUMN member_id;
DROP INDEX IF EXISTS contacts_created_idx;
DROP INDEX IF EXISTS contacts_name_idx;
DROP INDEX IF EXISTS contacts_name_trgm_idx;
DROP INDEX IF EXISTS contacts_worksite_idx;
