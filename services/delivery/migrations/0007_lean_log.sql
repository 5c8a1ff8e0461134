-- +goose Up
-- Every email and text writes its status log and index entries, so each
-- must earn its cost. The status log is read only by people auditing one
-- message: its foreign key cost a lookup and a row lock on messages per
-- report, and messages are never deleted. No query looks emails up by
-- SendGrid's X-Message-Id (events carry our message id in custom_args),
-- so that index only slowed every accepted email.
ALTER TABLE message_events DROP CONSTRAINT message_events_message_id_fkey;
DROP INDEX messages_email_provider_id_idx;

-- +goose Down
CREATE INDEX messages_email_provider_id_idx ON messages (provider_id) WHERE provider_id IS NOT NULL AND channel = 'email';
ALTER TABLE message_events ADD CONSTRAINT message_events_message_id_fkey FOREIGN KEY (message_id) REFERENCES messages (id);
