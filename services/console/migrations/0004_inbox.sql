-- +goose Up
-- Saved replies: answers an admin writes once and organizers pick when
-- answering a member (and may edit before sending).
CREATE TABLE saved_replies (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    title      text NOT NULL,
    body       text NOT NULL,
    created_by uuid REFERENCES organizers (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX saved_replies_title ON saved_replies (lower(title));

-- The inbox conversations each organizer answered or marked handled: the
-- inbox's "mine" filter.
CREATE TABLE inbox_touches (
    organizer_id uuid NOT NULL REFERENCES organizers (id) ON DELETE CASCADE,
    conversation text NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (organizer_id, conversation)
);

-- +goose Down
DROP TABLE inbox_touches;
DROP TABLE saved_replies;
