-- +goose Up
-- One clock: every time delivery stores comes from the service's injected
-- clock, passed as a parameter, because the worker compares these times
-- with that clock (the reconciler's "unknown since before", a message's
-- age, deferrals). PostgreSQL's now() no longer fills any of them, so a
-- statement that forgets its time fails on NOT NULL instead of quietly
-- writing the other clock's time.
ALTER TABLE messages ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE message_events ALTER COLUMN received_at DROP DEFAULT;
ALTER TABLE suppressions ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE inbound_messages ALTER COLUMN received_at DROP DEFAULT;
ALTER TABLE dead_letters ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE email_events ALTER COLUMN received_at DROP DEFAULT;
ALTER TABLE outbox ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE settings ALTER COLUMN updated_at DROP DEFAULT;

-- +goose Down
ALTER TABLE messages ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE message_events ALTER COLUMN received_at SET DEFAULT now();
ALTER TABLE suppressions ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE inbound_messages ALTER COLUMN received_at SET DEFAULT now();
ALTER TABLE dead_letters ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE email_events ALTER COLUMN received_at SET DEFAULT now();
ALTER TABLE outbox ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE settings ALTER COLUMN updated_at SET DEFAULT now();
