-- +goose Up
-- A member's text is claimed before anything acts on it: its provider id is
-- recorded with the time delivery first received it, and handled_at is set
-- once it has been acted on. A replayed webhook finds its message handled
-- and changes nothing; a claim left unhandled (the first try died part-way)
-- is finished by the retry, with the first try's time.
ALTER TABLE inbound_messages ADD COLUMN handled_at timestamptz;
UPDATE inbound_messages SET handled_at = received_at;

-- When an opt-out for the address was last recorded (a second STOP renews
-- it). A START first received before this time cannot lift the suppression.
ALTER TABLE suppressions ADD COLUMN renewed_at timestamptz;
UPDATE suppressions SET renewed_at = created_at;
ALTER TABLE suppressions ALTER COLUMN renewed_at SET NOT NULL;

-- +goose Down
ALTER TABLE suppressions DROP COLUMN renewed_at;
ALTER TABLE inbound_messages DROP COLUMN handled_at;
