-- +goose Up
-- Issue 19. Contacts publishes through the shared transactional outbox
-- (package shared/outbox) like delivery: one table for every subject, so
-- a member's erasure (contact.erased) goes out as reliably as a consent
-- change. Events still queued in consent_outbox move over in their order.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    subject    text NOT NULL,
    msg_id     text NOT NULL,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL
);
INSERT INTO outbox (subject, msg_id, payload, created_at)
SELECT 'consent.changed', event_id, convert_to(event::text, 'UTF8'), created_at
FROM consent_outbox ORDER BY created_at, event_id;
DROP TABLE consent_outbox;

-- Who erased which member, and when: the audit of erasures, with no
-- personal data (the contact id no longer names anyone).
CREATE TABLE erasures (
    contact_id uuid PRIMARY KEY,
    erased_by  text NOT NULL,
    erased_at  timestamptz NOT NULL,
    event_id   text NOT NULL
);

-- +goose Down
DROP TABLE erasures;
CREATE TABLE consent_outbox (
    event_id   text PRIMARY KEY,
    event      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO consent_outbox (event_id, event, created_at)
SELECT msg_id, convert_from(payload, 'UTF8')::jsonb, created_at FROM outbox WHERE subject = 'consent.changed'
ON CONFLICT DO NOTHING;
DROP TABLE outbox;
