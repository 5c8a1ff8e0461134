-- +goose Up
-- A status report rewrites its message in place. PostgreSQL can update a
-- row without touching any index (a HOT update, on the same page) only
-- when no index's columns or condition name a column the update changes,
-- and every report changes status, status_rank and updated_at. Four
-- indexes named them, so each report wrote a new entry in all eight of
-- messages' indexes. They now name only columns a report leaves alone:
--   - the reconciler's messages of unknown outcome by unknown_since, set
--     when a message becomes unknown and cleared when it moves on, instead
--     of by status and updated_at;
--   - the sweeper's deferred messages by deferred_until alone, which is
--     now cleared whenever a message leaves queued;
--   - a campaign's messages by campaign alone;
--   - the retention purge's kept bodies by body alone (the purge still
--     picks finished messages; the few unfinished ones older than the
--     retention are passed over).
-- Pages are filled to 60% on insert, leaving room for the new versions
-- (measured: 62% of a text's three reports in place, of at most two in
-- three, as the first names the provider's id; 50% when filled to 80%).
ALTER TABLE messages ADD COLUMN unknown_since timestamptz;
UPDATE messages SET unknown_since = updated_at WHERE status = 'unknown';
UPDATE messages SET deferred_until = NULL WHERE deferred_until IS NOT NULL AND status <> 'queued';

DROP INDEX messages_unknown_idx;
CREATE INDEX messages_unknown_idx ON messages (unknown_since) WHERE unknown_since IS NOT NULL;
DROP INDEX messages_due_idx;
CREATE INDEX messages_due_idx ON messages (deferred_until) WHERE deferred_until IS NOT NULL;
DROP INDEX messages_campaign_idx;
CREATE INDEX messages_campaign_idx ON messages (campaign_id);
DROP INDEX messages_body_kept_idx;
CREATE INDEX messages_body_kept_idx ON messages (created_at) WHERE body <> '';
ALTER TABLE messages SET (fillfactor = 60);

-- +goose Down
ALTER TABLE messages RESET (fillfactor);
DROP INDEX messages_body_kept_idx;
CREATE INDEX messages_body_kept_idx ON messages (created_at) WHERE body <> '' AND status_rank = 9;
DROP INDEX messages_campaign_idx;
CREATE INDEX messages_campaign_idx ON messages (campaign_id, status);
DROP INDEX messages_due_idx;
CREATE INDEX messages_due_idx ON messages (deferred_until) WHERE status = 'queued' AND deferred_until IS NOT NULL;
DROP INDEX messages_unknown_idx;
CREATE INDEX messages_unknown_idx ON messages (updated_at) WHERE status IN ('unknown', 'sending');
ALTER TABLE messages DROP COLUMN unknown_since;
