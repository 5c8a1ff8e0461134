-- +goose Up
-- First-run setup: one row, written when an admin finishes the setup page
-- (the union's name, time zone and replies, which delivery keeps). Until
-- then admins are taken to setup and other organizers see a note.
CREATE TABLE setup (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    done_at  timestamptz NOT NULL,
    done_by  text NOT NULL
);

-- Account links: an invitation to set a first password, or a password
-- reset, emailed to the organizer. Only the SHA-256 of the link's token is
-- kept; a link works once, until expires_at, and a newer link of the same
-- kind for the same organizer (or a password set any way) ends it.
CREATE TABLE account_links (
    token_hash   bytea PRIMARY KEY,
    organizer_id uuid NOT NULL REFERENCES organizers (id) ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX account_links_organizer ON account_links (organizer_id);

-- +goose Down
DROP TABLE account_links;
DROP TABLE setup;
