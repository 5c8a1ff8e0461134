-- +goose Up
-- The union's name as its admin set it in the console (first-run setup,
-- settings): what {{org_name}}, the calendar invitations and the
-- first-message check use, instead of the CAMPAIGNS_ORG_NAME the service
-- started with. One row at most.
CREATE TABLE org_name (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    name       text NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE org_name;
