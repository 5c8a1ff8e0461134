-- +goose Up
-- Each member may have an assignee: a console account (an organizer or a
-- steward) whose inbox their replies reach first. Contacts keeps the
-- account's id and a snapshot of its name and first name (the
-- {{organizer_first_name}} merge field), so a broadcast renders without
-- asking the console. '' is unassigned.
ALTER TABLE contacts
    ADD COLUMN assignee_id         text NOT NULL DEFAULT '',
    ADD COLUMN assignee_name       text NOT NULL DEFAULT '',
    ADD COLUMN assignee_first_name text NOT NULL DEFAULT '';
CREATE INDEX contacts_assignee_idx ON contacts (assignee_id) WHERE assignee_id <> '';

-- Every change of a member's assignee, once: by hand, in bulk or by a
-- rebalance, with who made it.
CREATE TABLE contact_assignments (
    id            bigserial PRIMARY KEY,
    contact_id    uuid NOT NULL,
    assignee_id   text NOT NULL,
    assignee_name text NOT NULL,
    previous_id   text NOT NULL,
    source        text NOT NULL,
    changed_by    text NOT NULL,
    changed_at    timestamptz NOT NULL
);
CREATE INDEX contact_assignments_contact ON contact_assignments (contact_id, changed_at);

-- +goose Down
DROP TABLE contact_assignments;
DROP INDEX contacts_assignee_idx;
ALTER TABLE contacts DROP COLUMN assignee_id, DROP COLUMN assignee_name, DROP COLUMN assignee_first_name;
