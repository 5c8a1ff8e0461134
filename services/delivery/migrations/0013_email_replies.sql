-- +goose Up
-- Confirmations of opt-outs members sent by replying to an email: one at
-- most per address and reply, claimed before the confirmation is sent, so
-- SendGrid posting the reply again (or a retry after a crash) never sends
-- a second one.
CREATE TABLE email_reply_confirmations (
    address    text NOT NULL,
    inbound_id uuid NOT NULL,
    claimed_at timestamptz NOT NULL,
    sent_at    timestamptz,
    PRIMARY KEY (address, inbound_id)
);

-- +goose Down
DROP TABLE email_reply_confirmations;
