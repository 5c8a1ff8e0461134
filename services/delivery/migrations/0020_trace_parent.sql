-- +goose Up
-- The W3C traceparent of the span that handed a text to the provider, kept
-- only while tracing samples it: a status callback (Twilio sends no trace
-- context) is traced as a child of its send, in the text's one trace.
ALTER TABLE messages ADD COLUMN trace_parent text;

-- +goose Down
ALTER TABLE messages DROP COLUMN trace_parent;
