-- +goose Up
-- When a message was last claimed for a provider call: the moment its
-- suppression check ran. An audit of "nothing sent after an opt-out"
-- compares it with the opt-out's time.
ALTER TABLE messages ADD COLUMN claimed_at timestamptz;

-- +goose Down
ALTER TABLE messages DROP COLUMN claimed_at;
