-- +goose Up
-- The first name of the member's assignee when the first message went, so
-- reminders and auto-replies fill {{organizer_first_name}} as the first
-- message did.
ALTER TABLE campaign_recipients ADD COLUMN organizer_first_name text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE campaign_recipients DROP COLUMN organizer_first_name;
