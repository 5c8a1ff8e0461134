-- +goose Up
CREATE TABLE contacts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    first_name  text NOT NULL DEFAULT '',
    last_name   text NOT NULL DEFAULT '',
    phone       text UNIQUE,
    email       text UNIQUE,
    time_zone   text NOT NULL DEFAULT '',
    language    text NOT NULL DEFAULT '',
    tags        text[] NOT NULL DEFAULT '{}',
    attributes  jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_tags_idx ON contacts USING gin (tags);

-- Current consent per address and channel. Consent follows the address,
-- not the contact record, so no edit or merge of contacts can touch it.
CREATE TABLE consent (
    channel     text NOT NULL,
    address     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('subscribed', 'opted_out')),
    source      text NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (channel, address)
);

-- Append-only evidence of every consent change, applied once per event.
CREATE TABLE consent_ledger (
    id          bigserial PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    channel     text NOT NULL,
    address     text NOT NULL,
    change      text NOT NULL,
    source      text NOT NULL,
    evidence    text NOT NULL DEFAULT '',
    reason      text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_ledger_address_idx ON consent_ledger (channel, address, occurred_at);

-- +goose Down
DROP TABLE consent_ledger;
DROP TABLE consent;
DROP TABLE contacts;
