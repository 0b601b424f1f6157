// Package replay rebuilds the projection tables (schema.Tables) from the event store tb_event.
//
// Run reads tb_event in seq order (package eventstore), which is the order the live consumers committed the events of each product
// in, and applies them through projections.Apply, the engine of the live consumers: there is no replay-only SQL
// for the projection tables, and the engine's result does not depend on the order of the events nor on how they
// are batched, so a replay of tb_event gives the live tables (CONTRACT.md invariant 6). It never writes tb_event. Each batch of events is one transaction of the target database that
// also moves a checkpoint, so an interrupted replay resumes where it stopped without applying anything twice.
package replay

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/eventstore"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// Defaults of Config.
const (
	DefaultBatch          = 5000
	DefaultConsumerWindow = 15 * time.Second
)

// Config says what to rebuild, where and up to when.
type Config struct {
	// Target is the database whose projection tables are rebuilt (see OpenTarget). It must not be the source
	// database; to rebuild the live tables set InPlace instead and leave Target nil.
	Target *sql.DB
	// InPlace rebuilds the projection tables of the source database itself. Run refuses while a consumer
	// heartbeat is fresher than ConsumerWindow (ErrConsumersRunning), and stops if one appears meanwhile.
	InPlace bool
	// Batch is the number of events applied per transaction. Defaults to DefaultBatch.
	Batch int
	// UntilSeq, when positive, stops after the event with this seq: the tables as they were once it committed.
	UntilSeq int64
	// UntilTime, when set, stops after the last event recorded (tb_event.recorded_at) at or before it. It is
	// resolved to a seq once at the start; recorded_at, unlike occurred_at, follows the commit order that seq
	// follows, so the result is a prefix of the history, as the live tables were at that time.
	UntilTime time.Time
	// Fresh starts over (truncating the target's projection tables) even when an interrupted replay of the same
	// source could resume. A replay also starts over when the target has no checkpoint of this source, or its
	// last replay finished.
	Fresh bool
	// SkipBad skips events that cannot be decoded (unknown type, undecodable payload) and lists them in
	// Result.Skipped, instead of stopping.
	SkipBad bool
	// Verify compares the rebuilt tables with the live ones of the source (Result.Verification). It needs a
	// Target and no UntilSeq or UntilTime, and is only meaningful while no event is being recorded.
	Verify bool
	// Progress, when set, is called after every committed batch and once at the end, from Run's goroutine.
	Progress func(Progress)
	// ConsumerWindow is how recent a heartbeat must be to count as a running consumer. Defaults to
	// DefaultConsumerWindow.
	ConsumerWindow time.Duration
	// Now is the clock of checkpoints. Defaults to time.Now. (Heartbeats are judged on the database clock.)
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.ConsumerWindow == 0 {
		c.ConsumerWindow = DefaultConsumerWindow
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first invalid or contradictory field.
func (c Config) Validate() error {
	switch {
	case c.InPlace && c.Target != nil:
		return errors.New("replay: InPlace rebuilds the source itself; leave Target nil")
	case !c.InPlace && c.Target == nil:
		return errors.New("replay: no Target (or InPlace)")
	case c.Batch < 1 || c.Batch > 50_000:
		return errors.New("replay: Batch must be from 1 to 50000")
	case c.UntilSeq < 0:
		return errors.New("replay: UntilSeq must not be negative")
	case c.UntilSeq > 0 && !c.UntilTime.IsZero():
		return errors.New("replay: UntilSeq and UntilTime are exclusive")
	case c.Verify && c.InPlace:
		return errors.New("replay: Verify compares a rebuild with the live tables; in place they are the same tables")
	case c.Verify && (c.UntilSeq > 0 || !c.UntilTime.IsZero()):
		return errors.New("replay: Verify compares with the live tables, which are not the tables of an earlier point")
	}
	return nil
}

// Progress is the state of a running replay.
type Progress struct {
	Applied int64         // events handled so far by this run (applied, rejected or skipped)
	Total   int64         // events this run has to handle
	Seq     int64         // last seq committed
	Elapsed time.Duration // since this run started reading events
	Done    bool          // the last call of the run
}

// Rate is the events per second so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Applied) / p.Elapsed.Seconds()
}

// ETA is the estimated time left at the current rate, or 0 when unknown.
func (p Progress) ETA() time.Duration {
	r := p.Rate()
	if r == 0 || p.Applied >= p.Total {
		return 0
	}
	return time.Duration(float64(p.Total-p.Applied) / r * float64(time.Second))
}

// Skipped is an event that SkipBad skipped.
type Skipped struct {
	Seq  int64
	Type string
	Err  error
}

// Result is what a replay did. Run returns the part done so far along with an error.
type Result struct {
	Source      string            // source database name, the checkpoint key
	ResumedFrom int64             // seq the run resumed after; 0 when it started over
	FirstSeq    int64             // first seq handled by this run (0: none)
	LastSeq     int64             // last seq committed (checkpoint)
	EndSeq      int64             // seq the replay goes up to
	Applied     int64             // events applied by this run, rejected ones included
	Rejected    int64             // events the projection rejected (projections.Rejected): no table change, as live
	Skipped     []Skipped         // events skipped by SkipBad
	Elapsed     time.Duration     // time spent reading and applying events
	Checksums   map[string]string // projections.Checksums of the rebuilt tables, once finished
	Verify      *Verification     // set when Config.Verify
}

// ErrConsumersRunning is returned by an in-place replay while consumers are running.
var ErrConsumersRunning = errors.New("consumers are running")

// ErrMismatch is returned when Verify finds rebuilt and live tables that differ.
var ErrMismatch = errors.New("rebuilt tables differ from the live ones")

// BadEventError stops a replay at an event that cannot be decoded: an unknown type or an undecodable payload.
// The batch holding it is rolled back.
type BadEventError struct {
	Seq  int64
	Type string
	Err  error
}

func (e *BadEventError) Error() string {
	return fmt.Sprintf("replay seq %d (%s): %v (rerun with --skip-bad to skip it)", e.Seq, e.Type, e.Err)
}

func (e *BadEventError) Unwrap() error { return e.Err }

// Run rebuilds the projection tables of cfg.Target (or, InPlace, of src) from the tb_event of src.
//
// It resumes an interrupted replay of the same source into the same target from its checkpoint; otherwise it
// truncates the target's projection tables and starts from the first event. Every batch is one transaction that
// applies its events and moves the checkpoint, so cancelling ctx (Ctrl-C) loses at most the batch in flight and
// a second Run goes on from there. Events the projection rejects are counted and leave the tables unchanged,
// exactly as Store.Record leaves them live. Run must not run twice at once on one target; src is only read.
func Run(ctx context.Context, src *sql.DB, cfg Config) (Result, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	target := cfg.Target
	if cfg.InPlace {
		target = src
	}
	var res Result
	if err := src.QueryRowContext(ctx, `SELECT IFNULL(DATABASE(), '')`).Scan(&res.Source); err != nil {
		return res, fmt.Errorf("replay: name source database: %w", err)
	}
	if !cfg.InPlace {
		var targetName string
		if err := target.QueryRowContext(ctx, `SELECT IFNULL(DATABASE(), '')`).Scan(&targetName); err != nil {
			return res, fmt.Errorf("replay: name target database: %w", err)
		}
		if targetName == res.Source {
			return res, fmt.Errorf("replay: target database %s is the source; rebuild the live tables with --in-place",
				targetName)
		}
	}
	if cfg.InPlace {
		if err := refuseLiveConsumers(ctx, src, cfg); err != nil {
			return res, err
		}
	}
	maxSeq, endSeq, err := resolveEnd(ctx, src, cfg)
	if err != nil {
		return res, err
	}
	res.EndSeq = endSeq
	cp, err := prepareTarget(ctx, target, res.Source, cfg, maxSeq, endSeq)
	if err != nil {
		return res, err
	}
	res.LastSeq, res.ResumedFrom = cp, cp
	total, err := eventstore.Count(ctx, src, cp, endSeq)
	if err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}

	start := time.Now()
	err = apply(ctx, src, target, cfg, &res, total, start)
	res.Elapsed = time.Since(start)
	if cfg.Progress != nil {
		cfg.Progress(Progress{Applied: res.Applied + int64(len(res.Skipped)), Total: total, Seq: res.LastSeq,
			Elapsed: res.Elapsed, Done: true})
	}
	if err != nil {
		return res, err
	}
	if err := finishCheckpoint(ctx, target, res.Source, cfg.Now()); err != nil {
		return res, err
	}
	if res.Checksums, err = projections.Checksums(ctx, target); err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	if !cfg.Verify {
		return res, nil
	}
	v, err := verify(ctx, src, target, res.Checksums)
	res.Verify = &v
	if err != nil {
		return res, err
	}
	if !v.Match() {
		return res, fmt.Errorf("replay verify: %d of %d tables: %w", len(v.Differ()), len(schema.Tables), ErrMismatch)
	}
	return res, nil
}

func refuseLiveConsumers(ctx context.Context, db *sql.DB, cfg Config) error {
	live, err := schema.LiveConsumers(ctx, db, cfg.ConsumerWindow)
	if err != nil {
		return fmt.Errorf("replay in place: %w", err)
	}
	if len(live) > 0 {
		return fmt.Errorf("replay in place: %w (heartbeat within %s): %s; stop them, or rebuild into another "+
			"database with --into", ErrConsumersRunning, cfg.ConsumerWindow, strings.Join(live, ", "))
	}
	return nil
}

// resolveEnd returns the source's last seq and the seq this replay goes up to.
func resolveEnd(ctx context.Context, src *sql.DB, cfg Config) (maxSeq, endSeq int64, err error) {
	if maxSeq, err = eventstore.LastSeq(ctx, src); err != nil {
		return 0, 0, fmt.Errorf("replay: %w", err)
	}
	switch {
	case cfg.UntilSeq > 0:
		return maxSeq, min(cfg.UntilSeq, maxSeq), nil
	case !cfg.UntilTime.IsZero():
		if endSeq, err = eventstore.LastSeqRecordedBy(ctx, src, cfg.UntilTime); err != nil {
			return 0, 0, fmt.Errorf("replay: %w", err)
		}
		return maxSeq, endSeq, nil
	}
	return maxSeq, maxSeq, nil
}

// batch is one transaction's worth of rows, or the error that ended reading.
type batch struct {
	rows []eventstore.Stored
	err  error
}

// apply streams the events after res.LastSeq up to res.EndSeq and applies them batch by batch. Reading and
// decoding run one batch ahead in another goroutine, over another connection.
func apply(ctx context.Context, src, target *sql.DB, cfg Config, res *Result, total int64, start time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 2)
	go read(ctx, src, res.LastSeq, res.EndSeq, cfg.Batch, batches)
	for b := range batches {
		if b.err != nil {
			return b.err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("replay interrupted after seq %d: %w", res.LastSeq, err)
		}
		if cfg.InPlace {
			if err := refuseLiveConsumers(ctx, src, cfg); err != nil {
				return fmt.Errorf("stopped after seq %d: %w", res.LastSeq, err)
			}
		}
		if err := applyBatch(ctx, target, res, cfg, b.rows); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("replay interrupted after seq %d: %w", res.LastSeq, ctx.Err())
			}
			return err
		}
		if cfg.Progress != nil {
			cfg.Progress(Progress{Applied: res.Applied + int64(len(res.Skipped)), Total: total, Seq: res.LastSeq,
				Elapsed: time.Since(start)})
		}
	}
	return ctx.Err()
}

// read sends the rows with after < seq ≤ end in batches of size n, then closes out. It stops when ctx ends, also
// while a send is blocked: apply may return early (an error, an interruption) and never receive again.
func read(ctx context.Context, src *sql.DB, after, end int64, n int, out chan<- batch) {
	defer close(out)
	send := func(b batch) bool {
		select {
		case out <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for after < end {
		b, err := eventstore.Read(ctx, src, after, end, n)
		if err != nil {
			send(batch{err: fmt.Errorf("replay: %w", err)})
			return
		}
		if len(b) == 0 {
			return
		}
		after = b[len(b)-1].Seq
		if !send(batch{rows: b}) {
			return
		}
	}
}

// applyBatch applies one batch and moves the checkpoint in one transaction. A bad event (without SkipBad) or
// any failure rolls the whole batch back, leaving the checkpoint before it.
func applyBatch(ctx context.Context, target *sql.DB, res *Result, cfg Config, rows []eventstore.Stored) error {
	var skipped []Skipped
	es := make([]events.Event, 0, len(rows))
	for _, r := range rows {
		if r.Err == nil {
			es = append(es, r.Event)
			continue
		}
		if !cfg.SkipBad {
			return &BadEventError{Seq: r.Seq, Type: r.Type, Err: r.Err}
		}
		skipped = append(skipped, Skipped{Seq: r.Seq, Type: r.Type, Err: r.Err})
	}
	first, last := rows[0].Seq, rows[len(rows)-1].Seq
	tx, err := target.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("replay seq %d..%d: begin: %w", first, last, err)
	}
	defer func() { _ = tx.Rollback() }()
	outs, err := projections.Apply(ctx, tx, es)
	if err != nil {
		return fmt.Errorf("replay seq %d..%d: %w", first, last, err)
	}
	var rejected int64
	for _, o := range outs {
		if o == projections.Rejected {
			rejected++
		}
	}
	applied := int64(len(outs))
	if err := saveCheckpoint(ctx, tx, res.Source, last, cfg.Now()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replay seq %d..%d: commit: %w", first, last, err)
	}
	if res.FirstSeq == 0 {
		res.FirstSeq = first
	}
	res.LastSeq = last
	res.Applied += applied
	res.Rejected += rejected
	res.Skipped = append(res.Skipped, skipped...)
	return nil
}
