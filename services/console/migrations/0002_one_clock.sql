-- +goose Up
-- One clock: every time the console stores comes from its injected clock,
-- passed as a parameter, because the console compares these times with
-- that clock (sessions' expiry, tokens' use). PostgreSQL's now() no longer
-- fills any of them, so a statement that forgets its time fails on NOT
-- NULL instead of quietly writing the other clock's time.
ALTER TABLE organizers ALTER COLUMN created_at DROP DEFAULT, ALTER COLUMN updated_at DROP DEFAULT;
ALTER TABLE sessions ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE api_tokens ALTER COLUMN created_at DROP DEFAULT;
ALTER TABLE audit_log ALTER COLUMN at DROP DEFAULT;

-- +goose Down
ALTER TABLE organizers ALTER COLUMN created_at SET DEFAULT now(), ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE sessions ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE api_tokens ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE audit_log ALTER COLUMN at SET DEFAULT now();
