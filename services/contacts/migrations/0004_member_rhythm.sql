-- +goose Up
-- Members' own rhythm (NIGHTS, PAUSE, LESS, the preferences page), as
-- delivery announces it on member.rhythm_changed, kept to show on the
-- member page. Its own tables, not consent_ledger: the consent rule reads
-- the ledger's latest member-side entry of any change, and a NIGHTS is not
-- an opt-out. Delivery enforces the rhythm; these are a copy for people.

-- member_rhythm is the current choice per address, the newest event's
-- (events may arrive in any order; changed_at decides).
CREATE TABLE member_rhythm (
    channel      text NOT NULL CHECK (channel IN ('sms', 'email')),
    address      text NOT NULL,
    time_window  text NOT NULL DEFAULT '',
    paused_until timestamptz,
    less         boolean NOT NULL DEFAULT false,
    language     text NOT NULL DEFAULT '',
    channels     text NOT NULL DEFAULT '',
    event_id     text NOT NULL,
    changed_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (channel, address)
);

-- member_rhythm_history is every change once (by event id), with its
-- source and evidence: the keyword and its message SID, or what the
-- preferences page saved.
CREATE TABLE member_rhythm_history (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL UNIQUE,
    channel      text NOT NULL,
    address      text NOT NULL,
    change       text NOT NULL,
    source       text NOT NULL,
    evidence     text NOT NULL DEFAULT '',
    time_window  text NOT NULL DEFAULT '',
    paused_until timestamptz,
    less         boolean NOT NULL DEFAULT false,
    language     text NOT NULL DEFAULT '',
    channels     text NOT NULL DEFAULT '',
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX member_rhythm_history_address ON member_rhythm_history (channel, address, occurred_at);

-- +goose Down
DROP TABLE member_rhythm_history;
DROP TABLE member_rhythm;
