-- +goose Up
-- When each campaign message first reached the provider and when it was
-- delivered, for the results chart over time. updated_at keeps only the
-- latest change, so a delivered text would lose when it was sent. Rows
-- from before this migration have neither and are left out of the chart.
ALTER TABLE campaign_messages
    ADD COLUMN sent_at      timestamptz,
    ADD COLUMN delivered_at timestamptz;

-- +goose Down
ALTER TABLE campaign_messages DROP COLUMN sent_at, DROP COLUMN delivered_at;
