-- +goose Up
-- Replies that might be an opt-out but are not clear (consent.Review):
-- each waits for an organizer's decision, at most until due_at, 10
-- business days after delivery first received it; warn_at (2 business
-- days before) is when the organizer is warned; an undecided review is
-- treated as an opt-out at due_at (decision 'deadline'). One review per
-- inbound message, however often its webhook is retried. Every time is
-- delivery's clock (docs/delivery.md, "One clock"): no defaults.
CREATE TABLE optout_reviews (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    inbound_message_id  uuid NOT NULL UNIQUE REFERENCES inbound_messages (id),
    provider_id         text NOT NULL,
    channel             text NOT NULL,
    address             text NOT NULL,
    body                text NOT NULL,
    reason              text NOT NULL,
    campaign_id         text NOT NULL DEFAULT '',
    contact_id          text NOT NULL DEFAULT '',
    received_at         timestamptz NOT NULL,
    due_at              timestamptz NOT NULL,
    warn_at             timestamptz NOT NULL,
    warned_at           timestamptz,
    decided_at          timestamptz,
    decision            text CHECK (decision IN ('opt_out', 'not_opt_out', 'deadline')),
    decided_by          text NOT NULL DEFAULT '',
    -- What the decision did to the suppression list: 'added', 'renewed'
    -- (already suppressed), 'superseded' (the member opted back in after
    -- this text) or '' (nothing to do).
    outcome             text NOT NULL DEFAULT '',
    CHECK ((decided_at IS NULL) = (decision IS NULL))
);
-- The open list and the sweeper read open reviews by due time.
CREATE INDEX optout_reviews_open_idx ON optout_reviews (due_at, id) WHERE decided_at IS NULL;
CREATE INDEX optout_reviews_decided_idx ON optout_reviews (decided_at DESC, id DESC) WHERE decided_at IS NOT NULL;

-- +goose Down
DROP TABLE optout_reviews;
