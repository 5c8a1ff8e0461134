-- +goose Up
-- A message's results row is rewritten by each status change it goes
-- through (queued, sent, delivered). The campaign index named status, so
-- PostgreSQL could never rewrite a row in place (a HOT update, with no
-- new index entry): every change wrote a new entry in both indexes. The
-- index now names only what a change leaves alone, and pages are filled
-- to 60% on insert so the new versions fit beside the old.
DROP INDEX campaign_messages_campaign_idx;
CREATE INDEX campaign_messages_campaign_idx ON campaign_messages (campaign_id, step);
ALTER TABLE campaign_messages SET (fillfactor = 60);

-- +goose Down
ALTER TABLE campaign_messages RESET (fillfactor);
DROP INDEX campaign_messages_campaign_idx;
CREATE INDEX campaign_messages_campaign_idx ON campaign_messages (campaign_id, step, status);
