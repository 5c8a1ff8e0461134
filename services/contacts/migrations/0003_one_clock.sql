-- +goose Up
-- One clock: every time contacts stores comes from the service's injected
-- clock, passed as a parameter, because the service compares these times
-- with that clock (an import's heartbeat decides whether it was
-- interrupted). PostgreSQL's now() no longer fills any of them, so a
-- statement that forgets its time fails on NOT NULL instead of quietly
-- writing the other clock's time.
ALTER TABLE contacts ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE consent_ledger ALTER COLUMN recorded_at DROP DEFAULT;
ALTER TABLE imports ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN heartbeat_at DROP DEFAULT;
ALTER TABLE consent_outbox ALTER COLUMN created_at DROP DEFAULT;

-- +goose Down
ALTER TABLE contacts ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE consent_ledger ALTER COLUMN recorded_at SET DEFAULT now();
ALTER TABLE imports ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN heartbeat_at SET DEFAULT now();
ALTER TABLE consent_outbox ALTER COLUMN created_at SET DEFAULT now();
