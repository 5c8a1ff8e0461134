package sim

import (
	"strings"
	"testing"
)

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"empty", "", 1},
		{"short gsm", "Practice moved to 6pm", 1},
		{"gsm 160", strings.Repeat("a", 160), 1},
		{"gsm 161", strings.Repeat("a", 161), 2},
		{"gsm 306", strings.Repeat("a", 306), 2},
		{"gsm 307", strings.Repeat("a", 307), 3},
		{"gsm accents stay gsm", strings.Repeat("é", 160), 1},
		{"extended counts twice 80", strings.Repeat("{", 80), 1},
		{"extended counts twice 81", strings.Repeat("{", 81), 2},
		{"euro counts twice", strings.Repeat("€", 80) + "a", 2},
		{"every extended char", "^{}\\[]~|€", 1},
		// 152 basic + an escape pair cannot split: the pair moves to part 2.
		{"escape not split", strings.Repeat("a", 152) + "[" + strings.Repeat("a", 7), 2},
		// 306 septets would fit two parts, but the unsplittable pair forces three.
		{"escape split pushes third part", strings.Repeat("a", 152) + "[" + strings.Repeat("a", 152), 3},
		{"ucs2 70", strings.Repeat("ж", 70), 1},
		{"ucs2 71", strings.Repeat("ж", 71), 2},
		{"ucs2 134", strings.Repeat("ж", 134), 2},
		{"ucs2 135", strings.Repeat("ж", 135), 3},
		{"one non-gsm char forces ucs2", strings.Repeat("a", 70) + "ж", 2},
		{"emoji is two utf16 units 35", strings.Repeat("😀", 35), 1},
		{"emoji is two utf16 units 36", strings.Repeat("😀", 36), 2},
		// 66 units + a surrogate pair cannot split: the pair moves on.
		{"surrogate not split", strings.Repeat("ж", 66) + "😀" + strings.Repeat("ж", 66), 3},
		{"max body gsm", strings.Repeat("a", 1600), 11},
		{"max body ucs2", strings.Repeat("ж", 1600), 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Segments(tt.body); got != tt.want {
				t.Errorf("Segments(%q...) = %d, want %d", truncate(tt.body, 20), got, tt.want)
			}
		})
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
