-- +goose Up
-- Campaign kinds (alert, meeting, petition), channels (sms, email, both),
-- languages, schedules and pauses.
ALTER TABLE campaigns DROP CONSTRAINT campaigns_status_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_status_check
    CHECK (status IN ('draft', 'scheduled', 'launching', 'launched', 'paused', 'cancelled'));
ALTER TABLE campaigns
    -- Everything organizers wrote beyond the first columns: content per
    -- language, the meeting, the petition, the audience filter.
    ADD COLUMN spec         jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN urgent       boolean NOT NULL DEFAULT false,
    ADD COLUMN scheduled_at timestamptz,
    ADD COLUMN paused_at    timestamptz,
    ADD COLUMN cancelled_at timestamptz,
    -- The meeting's revision: bumped by every move, it is the .ics
    -- SEQUENCE so calendars update the event.
    ADD COLUMN revision     integer NOT NULL DEFAULT 0,
    -- The next free step number for reminders and notices.
    ADD COLUMN next_step    integer NOT NULL DEFAULT 1;

-- What a campaign sends and when: step 0 is the alert, invitation or ask;
-- reminders and notices follow. A step's number is part of every message's
-- idempotency key, so a step is sent at most once per member and channel.
CREATE TABLE campaign_steps (
    campaign_id    uuid NOT NULL REFERENCES campaigns (id),
    step           integer NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('send', 'reminder', 'update', 'cancel')),
    -- Reminders: how long before the meeting (negative seconds).
    offset_seconds bigint,
    due_at         timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'done', 'skipped', 'cancelled')),
    -- The organizer's own words for an update or cancellation notice.
    notice         text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    done_at        timestamptz,
    PRIMARY KEY (campaign_id, step)
);
CREATE INDEX campaign_steps_due_idx ON campaign_steps (due_at) WHERE status = 'pending';

-- One fan-out per step and channel, leased with FOR UPDATE SKIP LOCKED so
-- any number of replicas share the work. The cursor moves only after
-- JetStream acknowledged a page; a crash resumes from it.
CREATE TABLE fanout_jobs (
    campaign_id uuid NOT NULL,
    step        integer NOT NULL,
    channel     text NOT NULL,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'cancelled')),
    cursor      text COLLATE "C" NOT NULL DEFAULT '',
    published   integer NOT NULL DEFAULT 0,
    lease_owner text NOT NULL DEFAULT '',
    lease_until timestamptz NOT NULL DEFAULT '-infinity',
    created_at  timestamptz NOT NULL DEFAULT now(),
    done_at     timestamptz,
    PRIMARY KEY (campaign_id, step, channel),
    FOREIGN KEY (campaign_id, step) REFERENCES campaign_steps (campaign_id, step)
);
CREATE INDEX fanout_jobs_running_idx ON fanout_jobs (lease_until) WHERE status = 'running';

-- Who the first message went to, with what reminders and notices need to
-- address and greet them, so they do not depend on the audience staying
-- the same. Reply routing finds a member's recent campaigns here.
CREATE TABLE campaign_recipients (
    campaign_id uuid NOT NULL,
    contact_id  text COLLATE "C" NOT NULL,
    channel     text NOT NULL,
    address     text NOT NULL,
    first_name  text NOT NULL DEFAULT '',
    last_name   text NOT NULL DEFAULT '',
    language    text NOT NULL DEFAULT '',
    time_zone   text NOT NULL DEFAULT '',
    fields      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, channel, contact_id)
);
CREATE INDEX campaign_recipients_contact_idx ON campaign_recipients (contact_id, created_at DESC);

ALTER TABLE campaign_messages
    ADD COLUMN step       integer NOT NULL DEFAULT 0,
    ADD COLUMN channel    text NOT NULL DEFAULT '',
    ADD COLUMN error_code text NOT NULL DEFAULT '',
    ADD COLUMN reason     text NOT NULL DEFAULT '';
DROP INDEX campaign_messages_campaign_idx;
CREATE INDEX campaign_messages_campaign_idx ON campaign_messages (campaign_id, step, status);

-- A member's latest answer to a meeting. answered_at orders answers that
-- arrive out of order; event_id tells a redelivery from a new answer.
CREATE TABLE rsvps (
    campaign_id uuid NOT NULL,
    contact_id  text COLLATE "C" NOT NULL,
    answer      text NOT NULL CHECK (answer IN ('yes', 'no')),
    channel     text NOT NULL,
    source      text NOT NULL CHECK (source IN ('reply', 'link')),
    event_id    text NOT NULL,
    answered_at timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, contact_id)
);

-- Petition signatures and reported calls: once per member, with when and
-- how.
CREATE TABLE petition_actions (
    campaign_id uuid NOT NULL,
    action      text NOT NULL CHECK (action IN ('sign', 'call')),
    contact_id  text COLLATE "C" NOT NULL,
    channel     text NOT NULL,
    source      text NOT NULL CHECK (source IN ('reply', 'link')),
    event_id    text NOT NULL,
    first_name  text NOT NULL DEFAULT '',
    last_name   text NOT NULL DEFAULT '',
    acted_at    timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, action, contact_id)
);

-- Replies a person should read: anything that is not an answer the
-- campaign understood.
CREATE TABLE inbox (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    event_id    text NOT NULL UNIQUE,
    campaign_id uuid,
    contact_id  text NOT NULL DEFAULT '',
    first_name  text NOT NULL DEFAULT '',
    last_name   text NOT NULL DEFAULT '',
    channel     text NOT NULL,
    from_addr   text NOT NULL,
    to_addr     text NOT NULL DEFAULT '',
    body        text NOT NULL,
    -- Why it is here: unmatched, or an answer that said more.
    note        text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL,
    handled_at  timestamptz
);
CREATE INDEX inbox_open_idx ON inbox (received_at DESC) WHERE handled_at IS NULL;
CREATE INDEX inbox_campaign_idx ON inbox (campaign_id, received_at DESC);

-- Organizers' answers from the inbox, each its own send request.
CREATE TABLE inbox_replies (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    inbox_id        uuid NOT NULL REFERENCES inbox (id),
    body            text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_replies_inbox_idx ON inbox_replies (inbox_id);

-- Campaigns launched before steps existed: a fan-out under way carries on
-- from its cursor as step 0's job.
INSERT INTO campaign_steps (campaign_id, step, kind, due_at, status, started_at, done_at)
SELECT id, 0, 'send', coalesce(launched_at, created_at),
       CASE status WHEN 'launching' THEN 'running' ELSE 'done' END, launched_at, completed_at
FROM campaigns WHERE status IN ('launching', 'launched');
INSERT INTO fanout_jobs (campaign_id, step, channel, cursor, published)
SELECT id, 0, channel, fanout_cursor, targeted FROM campaigns WHERE status = 'launching';

-- +goose Down
DROP TABLE inbox_replies;
DROP TABLE inbox;
DROP TABLE petition_actions;
DROP TABLE rsvps;
DROP INDEX campaign_messages_campaign_idx;
CREATE INDEX campaign_messages_campaign_idx ON campaign_messages (campaign_id, status);
ALTER TABLE campaign_messages DROP COLUMN step, DROP COLUMN channel, DROP COLUMN error_code, DROP COLUMN reason;
DROP TABLE campaign_recipients;
DROP TABLE fanout_jobs;
DROP TABLE campaign_steps;
ALTER TABLE campaigns DROP COLUMN spec, DROP COLUMN urgent, DROP COLUMN scheduled_at, DROP COLUMN paused_at,
    DROP COLUMN cancelled_at, DROP COLUMN revision, DROP COLUMN next_step;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_status_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_status_check
    CHECK (status IN ('draft', 'launching', 'launched', 'cancelled'));
