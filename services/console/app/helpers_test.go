package app_test

import (
	"encoding/json"
	"regexp"
)

var (
	jsonMarshal   = json.Marshal
	jsonUnmarshal = json.Unmarshal
	tags          = regexp.MustCompile(`(?s)<[^>]*>`)
)

func stripTags(s string) string { return tags.ReplaceAllString(s, "") }
