-- +goose Up
-- The organization's messaging settings, edited by admins in the console.
-- One row; until it exists, delivery's environment gives the defaults.
CREATE TABLE settings (
    id         smallint PRIMARY KEY CHECK (id = 1),
    data       jsonb NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE settings;
