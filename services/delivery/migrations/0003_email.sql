-- +goose Up
-- SendGrid repeats events for up to a day: each is acted on once.
CREATE TABLE email_events (
    sg_event_id text PRIMARY KEY,
    message_id  uuid,
    event       text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- One SendGrid call carries up to 1,000 recipients under one X-Message-Id,
-- so provider ids are unique for texts (Twilio SIDs) only.
DROP INDEX messages_provider_id_idx;
CREATE UNIQUE INDEX messages_sms_provider_id_idx ON messages (provider_id) WHERE provider_id IS NOT NULL AND channel = 'sms';
CREATE INDEX messages_email_provider_id_idx ON messages (provider_id) WHERE provider_id IS NOT NULL AND channel = 'email';

-- +goose Down
DROP INDEX messages_email_provider_id_idx;
DROP INDEX messages_sms_provider_id_idx;
CREATE UNIQUE INDEX messages_provider_id_idx ON messages (provider_id) WHERE provider_id IS NOT NULL;
DROP TABLE email_events;
