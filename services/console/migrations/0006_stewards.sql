-- +goose Up
-- Stewards: a role that sees only the members assigned to them.
ALTER TABLE organizers DROP CONSTRAINT organizers_role_check;
ALTER TABLE organizers ADD CONSTRAINT organizers_role_check CHECK (role IN ('admin', 'organizer', 'steward', 'viewer'));
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'organizer', 'steward', 'viewer'));

-- How long a member's reply may wait for an answer, counted inside the
-- member's window, before it is flagged overdue and offered to everyone.
-- One row; an admin changes it.
CREATE TABLE reply_deadline (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    minutes    integer NOT NULL CHECK (minutes BETWEEN 5 AND 10080),
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE reply_deadline;
DELETE FROM api_tokens WHERE role = 'steward';
UPDATE organizers SET role = 'viewer' WHERE role = 'steward';
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'organizer', 'viewer'));
ALTER TABLE organizers DROP CONSTRAINT organizers_role_check;
ALTER TABLE organizers ADD CONSTRAINT organizers_role_check CHECK (role IN ('admin', 'organizer', 'viewer'));
