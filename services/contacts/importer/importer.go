package importer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/sheet"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Options tune an importer.
type Options struct {
	// Region reads phone numbers typed without a country code.
	Region string
	// BatchSize is how many rows one transaction merges.
	BatchSize int
	// Workers normalize rows in parallel; phone parsing is the costly part
	// of an import (about 30,000 numbers a second per core).
	Workers int
	// OnBatch, when set, is called after each batch commits with the
	// totals so far. Tests use it to stop an import part-way.
	OnBatch func(store.ImportCounts)
}

func (o Options) withDefaults() Options {
	if o.Region == "" {
		o.Region = "US"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// Importer runs imports against the store.
type Importer struct {
	store *store.Store
	opts  Options
	log   *zap.Logger
}

// New builds an importer.
func New(s *store.Store, opts Options, log *zap.Logger) *Importer {
	return &Importer{store: s, opts: opts.withDefaults(), log: log}
}

// Job is one import to run: the file is read again from its first byte.
type Job struct {
	ID     string
	Source string
	DryRun bool
	Plan   Plan
	// Assignees reads the assignee column; By names who ran the import
	// in the assignment history.
	Assignees Directory
	By        string
}

// Inspect reads a file's header and first data row and plans its columns
// with the organizer's mapping, so an unusable file (empty, binary, a
// header and nothing else, no column for phone or email) is refused when
// it is uploaded rather than later.
func Inspect(r io.Reader, mapping map[string]string) (Plan, error) {
	rd := sheet.NewReader(r)
	header, err := rd.Read()
	if err != nil {
		return Plan{}, fileError(err)
	}
	if header.Err != nil {
		return Plan{}, apperr.Invalid("file", "the header row (line %d) is unusable: %v", header.Line, header.Err)
	}
	cols := append([]string(nil), header.Fields...)
	if _, err := rd.Read(); err != nil {
		if errors.Is(err, io.EOF) {
			return Plan{}, apperr.Invalid("file", "the file has a header row but no data rows")
		}
		return Plan{}, fileError(err)
	}
	return MakePlan(cols, mapping)
}

// fileError explains a file the reader could not start on.
func fileError(err error) error {
	var notCSV *sheet.NotCSVError
	switch {
	case errors.Is(err, sheet.ErrEmpty):
		return apperr.Invalid("file", "the file is empty")
	case errors.As(err, &notCSV):
		return apperr.Invalid("file", "%s", notCSV.Error())
	}
	return fmt.Errorf("reading the file: %w", err)
}

// analyzeAfter is how many new or changed contacts make an import refresh
// the planner's statistics.
const analyzeAfter = 10_000

// batch is a slice of the file on its way through the pipeline.
type batch struct {
	raws []rawRow
	rows []row
	done chan struct{}
}

// Run imports a file: one goroutine reads records, Workers goroutines
// normalize batches, and this goroutine merges them in file order, one
// transaction per batch (a dry run: one transaction, rolled back). Memory
// stays bounded by the handful of batches in flight, whatever the size of
// the file. It records the import's progress and final state, and returns
// the totals. A cancelled ctx stops it between batches: what committed
// stays, and running the file again completes it.
func (im *Importer) Run(ctx context.Context, job Job, r io.Reader) (store.ImportCounts, error) {
	var total store.ImportCounts
	if err := im.store.StartImport(ctx, job.ID); err != nil {
		return total, err
	}
	err := im.run(ctx, job, r, &total)
	state, msg := store.ImportDone, ""
	switch {
	case err == nil:
	case ctx.Err() != nil:
		state, msg = store.ImportInterrupted, "the import was stopped part-way; upload the same file again to finish (rows already imported are not duplicated)"
	case apperr.KindOf(err) == apperr.KindInvalid:
		state, msg = store.ImportFailed, err.Error()
	default:
		state, msg = store.ImportFailed, "the import failed part-way; upload the same file again to finish (rows already imported are not duplicated)"
	}
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil && !job.DryRun && total.New+total.Updated >= analyzeAfter {
		// Fresh statistics before the organizer can launch to the new
		// members: with none (autovacuum not yet round, or off), audience
		// pages over a tag everyone has took seconds each.
		if aerr := im.store.Analyze(ctx); aerr != nil {
			im.log.Warn("refreshing contact statistics after the import", zap.String("import_id", job.ID), zap.Error(aerr))
		}
	}
	if ferr := im.store.FinishImport(finishCtx, job.ID, state, msg); ferr != nil {
		return total, errors.Join(err, ferr)
	}
	return total, err
}

func (im *Importer) run(ctx context.Context, job Job, r io.Reader, total *store.ImportCounts) error {
	sess, err := im.store.OpenImport(ctx, job.ID, job.DryRun)
	if err != nil {
		return err
	}
	defer sess.Close(ctx)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *batch, im.opts.Workers)
	ordered := make(chan *batch, im.opts.Workers+1)
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(work)
		defer close(ordered)
		readErr = im.read(ctx, job, r, work, ordered)
	})
	for range im.opts.Workers {
		wg.Go(func() {
			cv := newConverter(job.Plan, im.opts.Region, job.Assignees)
			for b := range work {
				b.rows = make([]row, len(b.raws))
				for i, raw := range b.raws {
					b.rows[i] = cv.convert(raw)
				}
				b.raws = nil
				close(b.done)
			}
		})
	}
	defer wg.Wait()
	defer cancel() // on an early return, stop the reader and workers first

	cols := keyColumns{}
	for _, c := range job.Plan.Columns {
		switch c.Field {
		case FieldMemberID:
			cols.memberID = c.Header
		case FieldPhone:
			cols.phone = c.Header
		case FieldEmail:
			cols.email = c.Header
		}
	}
	for b := range ordered {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		counts, issues, err := im.commit(ctx, sess, job, cols, b.rows)
		if err != nil {
			return err
		}
		// The batch has committed: its report and counts are written even
		// if the import is being stopped.
		progressCtx, cancelProgress := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = im.store.ImportProgress(progressCtx, job.ID, counts, issues)
		cancelProgress()
		if err != nil {
			return err
		}
		total.Add(counts)
		if im.opts.OnBatch != nil {
			im.opts.OnBatch(*total)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return readErr
}

// read parses records into batches and hands each to the workers and, in
// file order, to the merging goroutine.
func (im *Importer) read(ctx context.Context, job Job, r io.Reader, work, ordered chan<- *batch) error {
	rd := sheet.NewReader(r)
	header, err := rd.Read()
	if err != nil {
		return fileError(err)
	}
	if len(header.Fields) != len(job.Plan.Columns) {
		return apperr.Invalid("file", "the header has %d columns, not the %d it had when uploaded", len(header.Fields), len(job.Plan.Columns))
	}
	send := func(raws []rawRow) error {
		b := &batch{raws: raws, done: make(chan struct{})}
		select {
		case ordered <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case work <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	cur := make([]rawRow, 0, im.opts.BatchSize)
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading line %d: %w", rd.Line(), err)
		}
		cur = append(cur, rawRow{line: int64(rec.Line), fields: append([]string(nil), rec.Fields...), err: rec.Err, errCol: rec.Column})
		if len(cur) == im.opts.BatchSize {
			if err := send(cur); err != nil {
				return err
			}
			cur = make([]rawRow, 0, im.opts.BatchSize)
		}
	}
	if len(cur) > 0 {
		return send(cur)
	}
	return nil
}

// commit merges one batch in one transaction and returns its counts and
// report lines.
func (im *Importer) commit(ctx context.Context, sess *store.ImportSession, job Job, cols keyColumns, rows []row) (store.ImportCounts, []store.ImportIssue, error) {
	var counts store.ImportCounts
	var issues []store.ImportIssue
	err := sess.Batch(ctx, func(tx *store.ImportBatch) error {
		counts, issues = store.ImportCounts{Read: int64(len(rows))}, nil
		var memberIDs, phones, emails []string
		var joined []store.OptInEvidence
		for _, r := range rows {
			if len(r.issues) > 0 {
				continue
			}
			if r.c.MemberID != "" {
				memberIDs = append(memberIDs, r.c.MemberID)
			}
			if r.c.Phone != "" {
				phones = append(phones, string(r.c.Phone))
			}
			if r.c.Email != "" {
				emails = append(emails, string(r.c.Email))
			}
		}
		existing, err := tx.Lookup(ctx, memberIDs, phones, emails)
		if err != nil {
			return err
		}
		res := resolve(rows, existing, cols, newUUID)
		merged, err := tx.Merge(ctx, res.stage)
		if err != nil {
			return err
		}
		if hasAssignee(res.stage) {
			by := job.By
			if by == "" {
				by = fmt.Sprintf("import of %q", job.Source)
			}
			changed, err := tx.AssignStaged(ctx, store.AssignImport, by)
			if err != nil {
				return err
			}
			for _, id := range changed {
				merged.Changed[id] = true
			}
		}
		for i, o := range res.outcomes {
			switch {
			case len(rows[i].issues) > 0:
				counts.Rejected++
				for _, is := range rows[i].issues {
					issues = append(issues, store.ImportIssue{Line: rows[i].line, Kind: store.IssueRejected, Column: is.column, Reason: is.reason})
				}
			case o == outNew:
				counts.New++
				joined = append(joined, im.optInEvidence(job, rows[i])...)
			case o == outMatched && merged.Changed[res.targets[i].id]:
				counts.Updated++
			case o == outMatched:
				counts.Unchanged++
			case o == outMerged:
				counts.Merged++
			}
		}
		issues = append(issues, res.issues...)
		if err := tx.RecordOptInEvidence(ctx, joined, im.store.Now().UTC()); err != nil {
			return err
		}
		optOuts, err := im.optOuts(job, rows)
		if err != nil {
			return err
		}
		n, err := tx.RecordOptOuts(ctx, optOuts, im.store.Now().UTC())
		counts.OptOuts = n
		return err
	})
	return counts, issues, err
}

func hasAssignee(stage []store.StageRow) bool {
	for _, s := range stage {
		if s.Assignee.ID != "" {
			return true
		}
	}
	return false
}

// optInEvidence is how a new contact's addresses came to be subscribed:
// this import, its file and the row's line.
func (im *Importer) optInEvidence(job Job, r row) []store.OptInEvidence {
	evidence := fmt.Sprintf("import %s of %q, line %d", job.ID, job.Source, r.line)
	var out []store.OptInEvidence
	if r.c.Phone != "" {
		out = append(out, store.OptInEvidence{Channel: string(events.ChannelSMS), Address: string(r.c.Phone), EventID: "import." + job.ID + ".sms." + string(r.c.Phone), Evidence: evidence})
	}
	if r.c.Email != "" {
		out = append(out, store.OptInEvidence{Channel: string(events.ChannelEmail), Address: string(r.c.Email), EventID: "import." + job.ID + ".email." + string(r.c.Email), Evidence: evidence})
	}
	return out
}

// optOuts lists the batch's opt-outs, one per address, each with the
// consent event delivery will receive.
func (im *Importer) optOuts(job Job, rows []row) ([]store.ImportOptOut, error) {
	var list []store.ImportOptOut
	seen := map[string]bool{}
	now := im.store.Now().UTC()
	for _, r := range rows {
		for _, o := range r.optOuts {
			key := o.channel + ":" + o.address
			if seen[key] {
				continue
			}
			seen[key] = true
			ev := events.ConsentChanged{
				Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, job.ID, now),
				Channel: events.Channel(o.channel), Address: o.address,
				Change: events.ConsentOptedOut, Source: events.SourceImport,
				Evidence: fmt.Sprintf("import %s of %q, line %d, column %q: %q", job.ID, job.Source, r.line, o.column, o.value),
				At:       now,
			}
			data, err := events.Encode(ev)
			if err != nil {
				return nil, fmt.Errorf("encoding consent event: %w", err)
			}
			list = append(list, store.ImportOptOut{Channel: o.channel, Address: o.address, EventID: ev.ID, Evidence: ev.Evidence, Event: string(data)})
		}
	}
	return list, nil
}

// NewID returns a random (version 4) UUID for an import or a contact.
func NewID() string { return newUUID() }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error since Go 1.24

	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
