-- +goose Up
-- One clock: every time campaigns stores comes from the service's injected
-- clock, passed as a parameter, because the service compares these times
-- with that clock (fan-out leases, due steps, reply windows). PostgreSQL's
-- now() no longer fills any of them, so a statement that forgets its time
-- fails on NOT NULL instead of quietly writing the other clock's time.
ALTER TABLE campaigns ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE campaign_messages ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE campaign_replies ALTER COLUMN received_at DROP DEFAULT;
ALTER TABLE campaign_steps ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE fanout_jobs ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE campaign_recipients ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE inbox_replies ALTER COLUMN created_at DROP DEFAULT;

-- +goose Down
ALTER TABLE campaigns ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE campaign_messages ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE campaign_replies ALTER COLUMN received_at SET DEFAULT now();
ALTER TABLE campaign_steps ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE fanout_jobs ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE campaign_recipients ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE inbox_replies ALTER COLUMN created_at SET DEFAULT now();
