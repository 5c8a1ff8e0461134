-- +goose Up
-- An admin can disable an organizer (a former organizer keeps no access);
-- disabling or changing a role ends the organizer's sessions and revokes
-- the tokens they made, in the same transaction.
ALTER TABLE organizers ADD COLUMN disabled_at timestamptz;

-- API tokens expire, and a token made by another token records its parent:
-- it can hold no more than the parent (role and expiry), and revoking the
-- parent revokes it. Tokens made before this migration get 90 days from
-- their creation.
ALTER TABLE api_tokens
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN parent_id uuid REFERENCES api_tokens (id) ON DELETE SET NULL;
UPDATE api_tokens SET expires_at = created_at + interval '90 days';
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX api_tokens_created_by ON api_tokens (created_by);
CREATE INDEX api_tokens_parent ON api_tokens (parent_id);

-- +goose Down
DROP INDEX api_tokens_parent;
DROP INDEX api_tokens_created_by;
ALTER TABLE api_tokens DROP COLUMN parent_id, DROP COLUMN expires_at;
ALTER TABLE organizers DROP COLUMN disabled_at;
