-- +goose Up
-- Issue 18: organizers' assessments of each member's support on the
-- union's 1-5 scale (1 leader … 5 opposed, docs/contacts.md "Ratings").
-- contact_ratings keeps every rating, who gave it and when; the latest is
-- copied onto the contact in the same statement, so lists, filters and the
-- chart read it without a lateral join.
CREATE TABLE contact_ratings (
    id         bigserial PRIMARY KEY,
    contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    rated_by   text NOT NULL,
    note       text NOT NULL DEFAULT '',
    rated_at   timestamptz NOT NULL
);
CREATE INDEX contact_ratings_contact_idx ON contact_ratings (contact_id, rated_at DESC, id DESC);

ALTER TABLE contacts
    ADD COLUMN rating   smallint CHECK (rating BETWEEN 1 AND 5),
    ADD COLUMN rated_at timestamptz,
    ADD COLUMN rated_by text;

-- +goose Down
ALTER TABLE contacts DROP COLUMN rated_by, DROP COLUMN rated_at, DROP COLUMN rating;
DROP TABLE contact_ratings;
