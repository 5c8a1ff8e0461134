-- +goose Up
-- What the retention purge (package retention) looks for, each index only
-- over the rows it may still touch, so a purge with nothing to do reads
-- nothing and one with work reads the oldest rows first.
CREATE INDEX messages_body_kept_idx ON messages (created_at) WHERE body <> '' AND status_rank = 9;
CREATE INDEX message_events_received_idx ON message_events (received_at);
CREATE INDEX inbound_messages_body_kept_idx ON inbound_messages (received_at) WHERE body <> '';
CREATE INDEX dead_letters_created_idx ON dead_letters (created_at);
CREATE INDEX email_events_received_idx ON email_events (received_at);

-- +goose Down
DROP INDEX email_events_received_idx;
DROP INDEX dead_letters_created_idx;
DROP INDEX inbound_messages_body_kept_idx;
DROP INDEX message_events_received_idx;
DROP INDEX messages_body_kept_idx;
