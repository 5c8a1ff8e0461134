package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
)

// Request is an upload and what the organizer asked of it.
type Request struct {
	// Source is the file's name, kept for the report and the consent
	// ledger's evidence.
	Source string
	// DryRun previews the counts without committing anything.
	DryRun bool
	// Mapping names the field for some columns (header or "#3" to field);
	// the rest are guessed.
	Mapping map[string]string
	// Assignees are the console's accounts members may be assigned to,
	// which the assignee column is read against; nil when the console
	// sent none (a file with an assignee column is then refused).
	Assignees []Account
	// By names who ran the import in the assignment history.
	By string
}

// RunnerConfig bounds what a runner accepts.
type RunnerConfig struct {
	// Dir holds uploads until their import ends.
	Dir string
	// MaxBytes is the largest file accepted.
	MaxBytes int64
	// Queue is how many accepted imports may wait for the one running.
	Queue int
	// Done, when set, is told what each import (not a dry run) did with
	// its rows, finished or not: the service counts them for operators.
	Done func(store.ImportCounts)
}

// Runner accepts uploads and runs their imports one at a time in the
// background, so an upload returns as soon as the file is stored and
// checked, and progress is read from the imports table meanwhile.
type Runner struct {
	imp   *Importer
	store *store.Store
	cfg   RunnerConfig
	jobs  chan queued
	log   *zap.Logger

	mu sync.Mutex
	// waiting are the queued imports, whose heartbeat the runner beats so
	// a long import ahead of them does not make them look abandoned.
	waiting map[string]bool
}

type queued struct {
	job  Job
	path string
}

// NewRunner builds a runner; Loop must run for imports to progress.
func NewRunner(imp *Importer, s *store.Store, cfg RunnerConfig, log *zap.Logger) *Runner {
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir()
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 16
	}
	return &Runner{imp: imp, store: s, cfg: cfg, jobs: make(chan queued, cfg.Queue), log: log, waiting: map[string]bool{}}
}

// Upload is a file stored for an import that has not started yet.
type Upload struct {
	path  string
	bytes int64
}

// Discard removes an upload that will not be imported.
func (u *Upload) Discard() { _ = os.Remove(u.path) }

// Receive stores an upload in a temporary file, streamed, never held in
// memory, and bounded by MaxBytes.
func (r *Runner) Receive(body io.Reader) (*Upload, error) {
	if err := os.MkdirAll(r.cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("making import directory: %w", err)
	}
	f, err := os.CreateTemp(r.cfg.Dir, "import-*.csv")
	if err != nil {
		return nil, fmt.Errorf("storing upload: %w", err)
	}
	u := &Upload{path: f.Name()}
	src := &uploadReader{r: io.LimitReader(body, r.cfg.MaxBytes+1)}
	u.bytes, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case src.err != nil:
		err = apperr.Invalid("file", "the upload was cut off after %d bytes: %v", u.bytes, src.err)
	case err != nil:
		err = fmt.Errorf("storing upload: %w", err)
	case u.bytes > r.cfg.MaxBytes:
		err = apperr.Invalid("file", "the file is larger than %d bytes", r.cfg.MaxBytes)
	}
	if err != nil {
		u.Discard()
		return nil, err
	}
	return u, nil
}

// Start checks an upload's header, records the import as queued and
// queues it. A file that cannot be imported at all is refused here with
// the reason. On success the runner owns the upload and removes it when
// the import ends; on error the caller still does.
func (r *Runner) Start(ctx context.Context, u *Upload, req Request) (store.Import, error) {
	if len(r.jobs) == cap(r.jobs) {
		return store.Import{}, apperr.Unavailable(nil, "%d imports are already waiting; try again when one finishes", cap(r.jobs))
	}
	plan, err := inspectFile(u.path, req.Mapping)
	if err != nil {
		return store.Import{}, err
	}
	mapping, err := json.Marshal(plan.Columns)
	if err != nil {
		return store.Import{}, fmt.Errorf("encoding column mapping: %w", err)
	}
	var dir Directory
	if req.Assignees != nil {
		if dir, err = NewDirectory(req.Assignees); err != nil {
			return store.Import{}, err
		}
	}
	for _, c := range plan.Columns {
		if c.Field == FieldAssignee && dir == nil {
			return store.Import{}, apperr.Invalid("assignees", "column %q holds assignees, but the import came without the console's "+
				"accounts to read them against: import through the console, or map the column to ignore", c.Header)
		}
	}
	job := Job{ID: NewID(), Source: req.Source, DryRun: req.DryRun, Plan: plan, Assignees: dir, By: req.By}
	imp := store.Import{ID: job.ID, Source: req.Source, DryRun: req.DryRun, Mapping: mapping, Warnings: plan.Warnings, Bytes: u.bytes}
	if err := r.store.CreateImport(ctx, imp); err != nil {
		return store.Import{}, err
	}
	r.setWaiting(job.ID, true)
	select {
	case r.jobs <- queued{job: job, path: u.path}:
	default:
		r.setWaiting(job.ID, false)
		r.finish(job.ID, store.ImportFailed, "too many imports were waiting; upload the file again")
		return store.Import{}, apperr.Unavailable(nil, "%d imports are already waiting; try again when one finishes", cap(r.jobs))
	}
	// The import is queued and owns the file now, so a failure to read it
	// back is not reported as a failed upload.
	if got, err := r.store.GetImport(ctx, job.ID); err == nil {
		return got, nil
	}
	imp.State, imp.CreatedAt = store.ImportQueued, r.store.Now().UTC()
	return imp, nil
}

func inspectFile(path string, mapping map[string]string) (Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return Plan{}, fmt.Errorf("opening upload: %w", err)
	}
	defer f.Close()
	return Inspect(f, mapping)
}

// Loop runs queued imports until ctx ends. An import running then is
// stopped between batches and marked interrupted, as are those still
// waiting; their files are removed.
func (r *Runner) Loop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.beat(ctx) })
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case q := <-r.jobs:
					r.setWaiting(q.job.ID, false)
					r.finish(q.job.ID, store.ImportInterrupted, "the service stopped before this import began; upload the file again")
					_ = os.Remove(q.path)
				default:
					return
				}
			}
		case q := <-r.jobs:
			r.setWaiting(q.job.ID, false)
			r.run(ctx, q)
		}
	}
}

func (r *Runner) setWaiting(id string, waiting bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if waiting {
		r.waiting[id] = true
	} else {
		delete(r.waiting, id)
	}
}

// beat keeps the heartbeat of waiting imports fresh until ctx ends.
func (r *Runner) beat(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		ids := make([]string, 0, len(r.waiting))
		for id := range r.waiting {
			ids = append(ids, id)
		}
		r.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		if err := r.store.TouchImports(ctx, ids); err != nil && ctx.Err() == nil {
			r.log.Warn("beating queued imports' heartbeat", zap.Error(err))
		}
	}
}

func (r *Runner) run(ctx context.Context, q queued) {
	defer os.Remove(q.path)
	log := r.log.With(zap.String("import_id", q.job.ID))
	f, err := os.Open(q.path)
	if err != nil {
		log.Error("opening stored upload", zap.Error(err))
		r.finish(q.job.ID, store.ImportFailed, "the stored upload could not be read; upload the file again")
		return
	}
	defer f.Close()
	start := time.Now()
	counts, err := r.imp.Run(ctx, q.job, f)
	if r.cfg.Done != nil && !q.job.DryRun {
		r.cfg.Done(counts)
	}
	fields := []zap.Field{zap.Bool("dry_run", q.job.DryRun), zap.Int64("rows_read", counts.Read), zap.Int64("new", counts.New),
		zap.Int64("updated", counts.Updated), zap.Int64("unchanged", counts.Unchanged), zap.Int64("merged", counts.Merged),
		zap.Int64("rejected", counts.Rejected), zap.Duration("took", time.Since(start))}
	switch {
	case err == nil:
		log.Info("import done", fields...)
	case ctx.Err() != nil:
		log.Warn("import interrupted", fields...)
	default:
		log.Error("import failed", append(fields, zap.Error(err))...)
	}
}

func (r *Runner) finish(id, state, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.store.FinishImport(ctx, id, state, msg); err != nil {
		r.log.Error("recording import state", zap.String("import_id", id), zap.Error(err))
	}
}

// uploadReader remembers a failure to read the upload itself, so it is
// told apart from a failure to store it (a full disk is not the
// organizer's fault).
type uploadReader struct {
	r   io.Reader
	err error
}

func (u *uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err != nil && err != io.EOF {
		u.err = err
	}
	return n, err
}
