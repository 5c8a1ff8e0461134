-- +goose Up
-- The language the member was written to in (the contact's, as campaigns
-- chose the template). Keyword replies (the STOP confirmation, HELP) go out
-- in the member's language: the words they texted, else this.
ALTER TABLE messages ADD COLUMN language text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN language;
