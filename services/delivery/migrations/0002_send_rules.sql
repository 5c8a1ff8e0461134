-- +goose Up
-- What the send rules need to decide again when a deferred message comes
-- due: the member's time zone, whether the alert is urgent (bypasses
-- frequency caps, never an opt-out), its cost in segments, and when it may
-- next be tried.
ALTER TABLE messages
    ADD COLUMN time_zone      text NOT NULL DEFAULT '',
    ADD COLUMN urgent         boolean NOT NULL DEFAULT false,
    ADD COLUMN segments       smallint NOT NULL DEFAULT 1,
    ADD COLUMN deferred_until timestamptz,
    ADD COLUMN defer_reason   text NOT NULL DEFAULT '';
CREATE INDEX messages_due_idx ON messages (deferred_until) WHERE status = 'queued' AND deferred_until IS NOT NULL;
CREATE INDEX messages_unknown_idx ON messages (updated_at) WHERE status IN ('unknown', 'sending');

-- Messages a consumer gave up on, for operators to read and retry.
CREATE TABLE dead_letters (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id    text NOT NULL UNIQUE,
    consumer    text NOT NULL,
    subject     text NOT NULL,
    data        bytea NOT NULL,
    error       text NOT NULL,
    deliveries  integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retried_at  timestamptz
);

-- +goose Down
DROP TABLE dead_letters;
DROP INDEX messages_unknown_idx;
DROP INDEX messages_due_idx;
ALTER TABLE messages DROP COLUMN defer_reason, DROP COLUMN deferred_until, DROP COLUMN segments,
    DROP COLUMN urgent, DROP COLUMN time_zone;
