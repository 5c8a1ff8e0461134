-- +goose Up
-- Polls by reply: each member's latest answer, and every answer they gave
-- (a change keeps the one before). answered_at orders answers that arrive
-- out of order; event_id tells a redelivery from a new answer.
CREATE TABLE poll_answers (
    campaign_id  uuid NOT NULL,
    contact_id   text COLLATE "C" NOT NULL,
    answer       text NOT NULL,
    channel      text NOT NULL,
    event_id     text NOT NULL,
    body         text NOT NULL DEFAULT '',
    answered_at  timestamptz NOT NULL,
    -- The follow-up to the answer, when it has one: sent under the
    -- answer's event, so a redelivered webhook sends nothing twice; the
    -- member's YES to it is kept with when it came.
    follow_up_event text NOT NULL DEFAULT '',
    follow_up_yes_at timestamptz,
    PRIMARY KEY (campaign_id, contact_id)
);
CREATE INDEX poll_answers_answer_idx ON poll_answers (campaign_id, answer);

CREATE TABLE poll_answer_history (
    campaign_id uuid NOT NULL,
    contact_id  text COLLATE "C" NOT NULL,
    event_id    text NOT NULL,
    answer      text NOT NULL,
    previous    text NOT NULL DEFAULT '',
    body        text NOT NULL DEFAULT '',
    channel     text NOT NULL,
    answered_at timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, contact_id, event_id)
);
CREATE INDEX poll_answer_history_contact_idx ON poll_answer_history (contact_id, answered_at DESC);

-- +goose Down
DROP TABLE poll_answer_history;
DROP TABLE poll_answers;
