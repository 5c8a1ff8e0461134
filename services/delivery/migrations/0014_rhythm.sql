-- +goose Up
-- Members' own rhythm (issue #16): when a member may be texted inside the
-- legal window, a pause, "fewer texts", their language and which channels
-- they want. Delivery owns it because it enforces it at send time. Keyed
-- by the address the member speaks from (an E.164 number, or a lower-cased
-- email address for the channel choice), like the suppression list.
-- Windows are minutes after local midnight, start inclusive, end
-- exclusive; both NULL means the organization's window.
CREATE TABLE member_rhythm (
    address      text PRIMARY KEY,
    channel      text NOT NULL CHECK (channel IN ('sms', 'email')),
    window_start smallint,
    window_end   smallint,
    paused_until timestamptz,
    less         boolean NOT NULL DEFAULT false,
    language     text NOT NULL DEFAULT '',
    channels     text NOT NULL DEFAULT 'both' CHECK (channels IN ('sms', 'email', 'both')),
    updated_at   timestamptz NOT NULL,
    CHECK ((window_start IS NULL) = (window_end IS NULL)),
    CHECK (window_start IS NULL OR (window_start >= 0 AND window_end <= 1440 AND window_start < window_end))
);

-- Every change a member made, never updated or deleted: what they asked
-- (the keyword or the form), where it came from (inbound_sms with the
-- message SID, web_form), the raw evidence and the rhythm before and after.
-- A message SID is acted on once: a replayed webhook finds its row and
-- answers with the same reply.
CREATE TABLE member_rhythm_history (
    id          bigserial PRIMARY KEY,
    address     text NOT NULL,
    change      text NOT NULL,
    source      text NOT NULL,
    message_sid text,
    evidence    text NOT NULL DEFAULT '',
    before      jsonb,
    after       jsonb NOT NULL,
    reply       text NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX member_rhythm_history_sid_idx ON member_rhythm_history (message_sid) WHERE message_sid IS NOT NULL;
CREATE INDEX member_rhythm_history_address_idx ON member_rhythm_history (address, id);

-- States stricter than the federal 08:00-21:00 (47 CFR 64.1200(c)(1)) for
-- telephone solicitation; Muster follows the stricter rule for everyone in
-- the state (docs/delivery.md, "Members' rhythm"). One row per state and
-- weekday (0 Sunday .. 6 Saturday); max_per_24h is the state's cap on
-- messages in any 24 hours (0 none), the same on each of its rows. Admins
-- extend it through delivery's internal API (PUT /state-rules/{state}).
CREATE TABLE state_rules (
    state        text NOT NULL CHECK (state ~ '^[A-Z]{2}$'),
    weekday      smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    window_start smallint NOT NULL,
    window_end   smallint NOT NULL,
    max_per_24h  smallint NOT NULL DEFAULT 0 CHECK (max_per_24h >= 0),
    note         text NOT NULL DEFAULT '',
    updated_by   text NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (state, weekday),
    CHECK (window_start >= 0 AND window_end <= 1440 AND window_start < window_end)
);
-- Seeded from shared/design/COMPLIANCE.md ("Quiet hours and frequency"),
-- as of this migration's writing (a fixed time: no statement reads the
-- database's clock). The notes name the state's telephone-solicitation
-- law as that page describes it; counsel should confirm the citations.
INSERT INTO state_rules (state, weekday, window_start, window_end, max_per_24h, note, updated_by, updated_at)
SELECT s.state, d.weekday, s.start_min, s.end_min, s.cap, s.note, 'migration 0014', '2026-12-06T00:00:00Z'
FROM (VALUES
    ('FL', 480, 1200, 3, 'Florida Telephone Solicitation Act: 8 a.m. to 8 p.m., 3 in 24 hours'),
    ('OK', 480, 1200, 3, 'Oklahoma Telephone Solicitation Act: 8 a.m. to 8 p.m., 3 in 24 hours'),
    ('MD', 480, 1200, 3, 'Maryland Stop the Spam Calls Act: 8 a.m. to 8 p.m., 3 in 24 hours'),
    ('WA', 480, 1200, 0, 'Washington telephone solicitation: 8 a.m. to 8 p.m.')
) AS s(state, start_min, end_min, cap, note)
CROSS JOIN generate_series(0, 6) AS d(weekday);
INSERT INTO state_rules (state, weekday, window_start, window_end, max_per_24h, note, updated_by, updated_at)
SELECT 'TX', d.weekday, CASE WHEN d.weekday = 0 THEN 720 ELSE 540 END, 1260, 0,
    'Texas telephone solicitation: 9 a.m. (Sunday noon) to 9 p.m.', 'migration 0014', '2026-12-06T00:00:00Z'
FROM generate_series(0, 6) AS d(weekday);

-- What the send rules need of a deferred message when it comes due again:
-- the member's state (the contact's, when the request carried it) and the
-- time after which the text is no use (a meeting reminder after the
-- meeting): past it a deferred text ends expired instead of going out.
ALTER TABLE messages
    ADD COLUMN state     text NOT NULL DEFAULT '',
    ADD COLUMN not_after timestamptz;

-- +goose Down
ALTER TABLE messages DROP COLUMN not_after, DROP COLUMN state;
DROP TABLE state_rules;
DROP TABLE member_rhythm_history;
DROP TABLE member_rhythm;
