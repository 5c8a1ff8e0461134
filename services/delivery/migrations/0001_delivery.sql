-- +goose Up
-- The message log: one row per intended message, keyed by its idempotency
-- key so a redelivered or re-published send request finds its row again.
CREATE TABLE messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    idempotency_key text NOT NULL UNIQUE,
    campaign_id     text NOT NULL,
    step            integer NOT NULL DEFAULT 0,
    contact_id      text NOT NULL,
    channel         text NOT NULL,
    to_addr         text NOT NULL,
    from_addr       text NOT NULL DEFAULT '',
    body            text NOT NULL,
    status          text NOT NULL,
    status_rank     smallint NOT NULL,
    provider_id     text,
    error_code      text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT '',
    correlation_id  text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE UNIQUE INDEX messages_provider_id_idx ON messages (provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX messages_to_recent_idx ON messages (channel, to_addr, created_at DESC);
CREATE INDEX messages_campaign_idx ON messages (campaign_id, status);

-- Every status report we received, applied or not, for the record.
CREATE TABLE message_events (
    id          bigserial PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES messages (id),
    status      text NOT NULL,
    provider_status text NOT NULL DEFAULT '',
    error_code  text NOT NULL DEFAULT '',
    applied     boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_events_message_idx ON message_events (message_id);

-- Addresses that must never be sent to on a channel. Follows the address,
-- not a contact: only the member's own opt-in removes a row.
CREATE TABLE suppressions (
    channel    text NOT NULL,
    address    text NOT NULL,
    reason     text NOT NULL,
    source     text NOT NULL,
    evidence   text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, address)
);

-- Members' replies, once per provider message id.
CREATE TABLE inbound_messages (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider_id text NOT NULL UNIQUE,
    channel     text NOT NULL,
    from_addr   text NOT NULL,
    to_addr     text NOT NULL,
    body        text NOT NULL,
    keyword     text NOT NULL DEFAULT '',
    reason      text NOT NULL DEFAULT '',
    campaign_id text NOT NULL DEFAULT '',
    contact_id  text NOT NULL DEFAULT '',
    reply       text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE inbound_messages;
DROP TABLE suppressions;
DROP TABLE message_events;
DROP TABLE messages;
