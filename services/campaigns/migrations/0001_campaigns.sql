-- +goose Up
CREATE TABLE campaigns (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    kind          text NOT NULL DEFAULT 'alert',
    channel       text NOT NULL,
    body          text NOT NULL,
    audience_tag  text NOT NULL,
    status        text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'launching', 'launched', 'cancelled')),
    -- Fan-out progress: the last contact whose send request JetStream
    -- acknowledged. It only moves after the acknowledgement, so a crash
    -- resumes from here and the idempotency key absorbs any overlap.
    fanout_cursor text NOT NULL DEFAULT '',
    targeted      integer NOT NULL DEFAULT 0,
    lease_owner   text NOT NULL DEFAULT '',
    lease_until   timestamptz NOT NULL DEFAULT '-infinity',
    created_at    timestamptz NOT NULL DEFAULT now(),
    launched_at   timestamptz,
    completed_at  timestamptz
);
CREATE INDEX campaigns_launching_idx ON campaigns (lease_until) WHERE status = 'launching';

-- Each message's latest status as delivery reported it: results are
-- counted from here, so a redelivered event cannot count twice.
CREATE TABLE campaign_messages (
    message_id  text PRIMARY KEY,
    campaign_id uuid NOT NULL,
    contact_id  text NOT NULL,
    status      text NOT NULL,
    status_rank smallint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_messages_campaign_idx ON campaign_messages (campaign_id, status);

-- Members' replies linked to a campaign.
CREATE TABLE campaign_replies (
    event_id    text PRIMARY KEY,
    campaign_id uuid NOT NULL,
    contact_id  text NOT NULL,
    body        text NOT NULL,
    keyword     text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_replies_campaign_idx ON campaign_replies (campaign_id);

-- +goose Down
DROP TABLE campaign_replies;
DROP TABLE campaign_messages;
DROP TABLE campaigns;
