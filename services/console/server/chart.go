package server

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/musterhq/muster/services/console/plain"
)

// The campaign page's chart of sends, deliveries and replies over time:
// drawn here as SVG in the page (no script, no library, nothing from
// elsewhere), with a caption and a table of the same numbers for anyone
// who cannot see it.

// timeline is campaigns' activity in equal buckets of time.
type timeline struct {
	BucketSeconds int `json:"bucket_seconds"`
	Buckets       []struct {
		At        time.Time `json:"at"`
		Sent      int64     `json:"sent"`
		Delivered int64     `json:"delivered"`
		Replies   int64     `json:"replies"`
	} `json:"buckets"`
}

// The chart's drawing area, in SVG units; the SVG scales to its box.
const (
	chartWidth  = 640
	chartHeight = 220
	chartLeft   = 44
	chartRight  = 12
	chartTop    = 12
	chartBottom = 30
)

// chart is a timeline ready to draw.
type chart struct {
	Width, Height int
	// Left, Right, Top and Bottom are the plot's edges.
	Left, Right, Top, Bottom int
	Series                   []chartSeries
	// YTicks label the vertical axis; XTicks the first, middle and last
	// buckets.
	YTicks []chartTick
	XTicks []chartTick
	// Rows are the numbers as a table, Summary the caption.
	Rows    []chartRow
	Summary string
}

// chartSeries is one line: its name, colour, dash pattern (so the lines
// differ without colour too) and points.
type chartSeries struct {
	Name, Color, Dash, Points string
	Dots                      []chartPoint
}

type chartPoint struct{ X, Y int }

type chartTick struct {
	Pos   int
	Label string
}

type chartRow struct {
	When                     string
	Sent, Delivered, Replies int64
}

// chartOf lays out a timeline in loc; nil when there is nothing to draw.
func chartOf(t *timeline, loc *time.Location) *chart {
	if t == nil || len(t.Buckets) == 0 {
		return nil
	}
	c := &chart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartWidth - chartRight,
		Top: chartTop, Bottom: chartHeight - chartBottom}
	bucket := time.Duration(t.BucketSeconds) * time.Second
	first, last := t.Buckets[0].At.In(loc), t.Buckets[len(t.Buckets)-1].At.In(loc)
	layout := "15:04"
	if first.YearDay() != last.YearDay() || first.Year() != last.Year() {
		layout = "Mon 15:04"
	}
	if bucket >= 24*time.Hour {
		layout = "Mon 2 Jan"
	}
	var most, sent, delivered, replies int64
	for _, b := range t.Buckets {
		most = max(most, b.Sent, b.Delivered, b.Replies)
		sent, delivered, replies = sent+b.Sent, delivered+b.Delivered, replies+b.Replies
		c.Rows = append(c.Rows, chartRow{When: b.At.In(loc).Format(layout), Sent: b.Sent, Delivered: b.Delivered, Replies: b.Replies})
	}
	top := niceCeiling(most)
	n := len(t.Buckets)
	x := func(i int) int {
		if n == 1 {
			return (c.Left + c.Right) / 2
		}
		return c.Left + i*(c.Right-c.Left)/(n-1)
	}
	y := func(v int64) int { return c.Bottom - int(v*int64(c.Bottom-c.Top)/top) }
	for _, s := range []struct {
		name, color, dash string
		of                func(i int) int64
	}{
		{"Sent", "#0b5cad", "", func(i int) int64 { return t.Buckets[i].Sent }},
		{"Delivered", "#1a7f37", "6 3", func(i int) int64 { return t.Buckets[i].Delivered }},
		{"Replies", "#9a3412", "2 3", func(i int) int64 { return t.Buckets[i].Replies }},
	} {
		line := chartSeries{Name: s.name, Color: s.color, Dash: s.dash}
		var pts []string
		for i := range t.Buckets {
			p := chartPoint{X: x(i), Y: y(s.of(i))}
			pts = append(pts, strconv.Itoa(p.X)+","+strconv.Itoa(p.Y))
			line.Dots = append(line.Dots, p)
		}
		line.Points = strings.Join(pts, " ")
		c.Series = append(c.Series, line)
	}
	for _, v := range []int64{0, top / 2, top} {
		c.YTicks = append(c.YTicks, chartTick{Pos: y(v), Label: strconv.FormatInt(v, 10)})
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if len(c.XTicks) > 0 && c.XTicks[len(c.XTicks)-1].Pos == x(i) {
			continue
		}
		c.XTicks = append(c.XTicks, chartTick{Pos: x(i), Label: c.Rows[i].When})
	}
	c.Summary = fmt.Sprintf("%d sent, %d delivered and %d %s from %s to %s, in steps of %s.",
		sent, delivered, replies, plural(replies, "reply", "replies"), c.Rows[0].When, c.Rows[n-1].When, bucketWords(bucket))
	return c
}

// niceCeiling is the least of 1, 2, 5, 10, 20, 50… at or above v, so the
// axis reads in round numbers.
func niceCeiling(v int64) int64 {
	for step := int64(1); ; step *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*step >= v && m*step > 0 {
				return m * step
			}
		}
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// bucketWords says a bucket's length as people do: "5 minutes", "1 hour".
func bucketWords(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		n := int64(d / (24 * time.Hour))
		return fmt.Sprintf("%d %s", n, plural(n, "day", "days"))
	case d >= time.Hour && d%time.Hour == 0:
		n := int64(d / time.Hour)
		return fmt.Sprintf("%d %s", n, plural(n, "hour", "hours"))
	default:
		n := int64(d / time.Minute)
		return fmt.Sprintf("%d %s", n, plural(n, "minute", "minutes"))
	}
}

// failure is one reason messages failed, in words, and how many.
type failure struct {
	Why string
	N   int64
}

// failuresOf puts campaigns' failures ("30005 unknown destination
// handset": 3) in words with the code beside them, most first; reasons
// that read the same are counted together.
func failuresOf(m map[string]int64) []failure {
	byWords := map[string]int64{}
	for key, n := range m {
		byWords[plain.Failure(key)] += n
	}
	out := make([]failure, 0, len(byWords))
	for why, n := range byWords {
		out = append(out, failure{Why: why, N: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Why < out[j].Why
	})
	return out
}
