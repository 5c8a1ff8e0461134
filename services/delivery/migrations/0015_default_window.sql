-- +goose Up
-- The window a member starts with before they choose their own, as the
-- send request asked for it ('nights' for a night-shift member; empty for
-- the organization's). Kept on the message because a deferred text is
-- judged again from its row, not its request. The shift-aware setting and
-- the member's own choice decide at each look whether it applies.
ALTER TABLE messages ADD COLUMN default_window text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN default_window;
