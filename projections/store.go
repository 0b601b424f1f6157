package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seckill/seckill/events"
)

// Outcome is what recording an event did.
type Outcome int

// Outcomes of Store.Record and Store.RecordBatch.
const (
	// Applied: the event was new; it is in tb_event and the projection tables reflect it.
	Applied Outcome = iota + 1
	// Duplicate: the event id was already in tb_event; nothing changed.
	Duplicate
	// Rejected: the event is in tb_event (it is a fact) but the projection could not accept it (ErrRejected);
	// no projection row changed and the caller compensates. A rejected reservation delivered again is Rejected
	// again (not Duplicate), so that a compensation that failed is retried; compensations are idempotent.
	Rejected
)

// Outcomes lists every outcome, in a stable order (metrics pre-create one series per outcome).
var Outcomes = []Outcome{Applied, Duplicate, Rejected}

// String returns the outcome's metric label.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// Result is the outcome of one event of a batch. Err is set (and Outcome is zero) when the event was not
// recorded and must be retried: it wraps ErrNotYetApplied, or is the error that failed the event.
type Result struct {
	Outcome Outcome
	Err     error
}

// Store records events delivered live: tb_event plus the projection tables, in one transaction per call.
// It is safe for concurrent use. Recording an event twice is a no-op the second time (Duplicate), whatever the
// delay between the two deliveries, because tb_event.event_id is unique.
type Store struct {
	db    *sql.DB
	grace time.Duration
	now   func() time.Time
}

// DefaultConflictGrace is how long a reservation that conflicts with the projected state (ErrConflict) is
// retried, as not yet applied, before it is rejected.
const DefaultConflictGrace = 30 * time.Second

// NewStore returns a Store over db, whose schema must be migrated (schema.Migrate), with DefaultConflictGrace.
func NewStore(db *sql.DB) (*Store, error) {
	return NewStoreWithGrace(db, DefaultConflictGrace, time.Now)
}

// NewStoreWithGrace returns a Store that retries conflicting reservations (ErrConflict) for grace after their
// event time, by the clock now, before rejecting them.
func NewStoreWithGrace(db *sql.DB, grace time.Duration, now func() time.Time) (*Store, error) {
	if db == nil || now == nil {
		return nil, errors.New("projections store: nil db or clock")
	}
	return &Store{db: db, grace: grace, now: now}, nil
}

// pending tells whether err is a conflict young enough to be a cancellation still in flight; it then returns the
// error to report instead, which wraps ErrNotYetApplied (and not ErrRejected).
func (s *Store) pending(e events.Event, err error) (error, bool) {
	if !errors.Is(err, ErrConflict) || s.now().Sub(e.Time()) >= s.grace {
		return nil, false
	}
	return fmt.Errorf("%w: %s", ErrNotYetApplied, err.Error()), true
}

// Record records one event in one transaction: INSERT IGNORE into tb_event (no row = Duplicate), then Apply.
//
// A rejected event (ErrRejected) is committed to tb_event with no projection change and returns Rejected, so its
// place in tb_event.seq is where it was decided and replay decides the same. An error wrapping ErrNotYetApplied,
// or any other error, rolls everything back: the event is not recorded and must be redelivered.
//
// Before writing tb_event, Record locks the product row the event changes; the events of one product therefore
// get their seq in the order they are applied, which replay follows.
func (s *Store) Record(ctx context.Context, e events.Event) (Outcome, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("record event %s: begin: %w", e.ID(), err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := lockProducts(ctx, tx, []events.Event{e}); err != nil {
		return 0, fmt.Errorf("record event %s: %w", e.ID(), err)
	}
	n, err := insertEvents(ctx, tx, []events.Event{e})
	if err != nil {
		return 0, fmt.Errorf("record event %s: %w", e.ID(), err)
	}
	out := Duplicate
	if n == 0 {
		again, err := rejectedAgain(ctx, tx, []events.Event{e})
		if err != nil {
			return 0, fmt.Errorf("record event %s: %w", e.ID(), err)
		}
		if again[0] {
			out = Rejected
		}
	}
	if n == 1 {
		out = Applied
		err := Apply(ctx, tx, e)
		if perr, ok := s.pending(e, err); ok {
			return 0, perr
		}
		if errors.Is(err, ErrRejected) {
			out = Rejected
		} else if err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("record event %s: commit: %w", e.ID(), err)
	}
	return out, nil
}

// RecordBatch records several events in one transaction with the idempotency of Record, returning one Result per
// event, in order. An event that fails on its own (ErrNotYetApplied) does not fail the others: Apply writes
// nothing for it and its tb_event row is removed again. Any other error fails the transaction; the events are then
// recorded one by one with Record so that only the faulty one fails. It is safe for concurrent use.
func (s *Store) RecordBatch(ctx context.Context, es []events.Event) []Result {
	res, err := s.recordBatch(ctx, es, false)
	if errors.Is(err, errMixedDuplicates) {
		res, err = s.recordBatch(ctx, es, true)
	}
	if err == nil {
		return res
	}
	res = make([]Result, len(es))
	for i, e := range es {
		res[i].Outcome, res[i].Err = s.Record(ctx, e)
	}
	return res
}

// errMixedDuplicates says a multi-row insert into tb_event met some but not all event ids: which ones is only
// known by inserting row by row.
var errMixedDuplicates = errors.New("batch holds both new and recorded events")

func (s *Store) recordBatch(ctx context.Context, es []events.Event, rowByRow bool) ([]Result, error) {
	res := make([]Result, len(es))
	fresh := make([]int, 0, len(es))
	seen := make(map[string]bool, len(es))
	for i, e := range es {
		if seen[e.ID()] {
			res[i].Outcome = Duplicate
			continue
		}
		seen[e.ID()] = true
		fresh = append(fresh, i)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record batch: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := lockProducts(ctx, tx, es); err != nil {
		return nil, fmt.Errorf("record batch: %w", err)
	}
	var toApply []int
	if rowByRow {
		for _, i := range fresh {
			n, err := insertEvents(ctx, tx, es[i:i+1])
			if err != nil {
				return nil, fmt.Errorf("record batch: %w", err)
			}
			if n == 0 {
				res[i].Outcome = Duplicate
				continue
			}
			toApply = append(toApply, i)
		}
	} else {
		batch := make([]events.Event, len(fresh))
		for j, i := range fresh {
			batch[j] = es[i]
		}
		n, err := insertEvents(ctx, tx, batch)
		switch {
		case err != nil:
			return nil, fmt.Errorf("record batch: %w", err)
		case n == 0:
			for _, i := range fresh {
				res[i].Outcome = Duplicate
			}
		case int(n) < len(fresh):
			return nil, errMixedDuplicates
		default:
			toApply = fresh
		}
	}
	var dups []events.Event
	var dupIdx []int
	for _, i := range fresh {
		if res[i].Outcome == Duplicate {
			dups, dupIdx = append(dups, es[i]), append(dupIdx, i)
		}
	}
	again, err := rejectedAgain(ctx, tx, dups)
	if err != nil {
		return nil, fmt.Errorf("record batch: %w", err)
	}
	for j, rejected := range again {
		if rejected {
			res[dupIdx[j]].Outcome = Rejected
		}
	}
	applied := make([]events.Event, len(toApply))
	for j, i := range toApply {
		applied[j] = es[i]
	}
	for j, err := range NewApplier(tx).ApplyAll(ctx, applied) {
		i := toApply[j]
		if perr, ok := s.pending(es[i], err); ok {
			err = perr
		}
		switch {
		case err == nil:
			res[i].Outcome = Applied
		case errors.Is(err, ErrRejected):
			res[i].Outcome = Rejected
		case errors.Is(err, ErrNotYetApplied):
			if _, derr := tx.ExecContext(ctx, `DELETE FROM tb_event WHERE event_id = ?`, es[i].ID()); derr != nil {
				return nil, fmt.Errorf("record batch: unrecord event %s: %w", es[i].ID(), derr)
			}
			res[i].Err = err
		default:
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record batch: commit: %w", err)
	}
	return res, nil
}

// rejectedAgain tells, for events already in tb_event, which are reservations that were rejected: their order
// row does not exist (an applied reservation's row is never deleted).
func rejectedAgain(ctx context.Context, tx *sql.Tx, es []events.Event) ([]bool, error) {
	out := make([]bool, len(es))
	var orders []any
	for _, e := range es {
		if r, ok := reservation(e); ok {
			orders = append(orders, r.OrderNo)
		}
	}
	if len(orders) == 0 {
		return out, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT order_no FROM tb_seckill_order WHERE order_no IN (?`+
		strings.Repeat(", ?", len(orders)-1)+`)`, orders...)
	if err != nil {
		return nil, fmt.Errorf("find rejected reservations: %w", err)
	}
	defer rows.Close()
	exists := map[string]bool{}
	for rows.Next() {
		var no string
		if err := rows.Scan(&no); err != nil {
			return nil, fmt.Errorf("find rejected reservations: %w", err)
		}
		exists[no] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find rejected reservations: %w", err)
	}
	for i, e := range es {
		if r, ok := reservation(e); ok && !exists[r.OrderNo] {
			out[i] = true
		}
	}
	return out, nil
}

// insertEvents inserts events into tb_event with INSERT IGNORE and returns how many were new.
func insertEvents(ctx context.Context, tx *sql.Tx, es []events.Event) (int64, error) {
	if len(es) == 0 {
		return 0, nil
	}
	var q strings.Builder
	q.WriteString(`INSERT IGNORE INTO tb_event (event_id, event_type, aggregate_id, payload, occurred_at) VALUES `)
	args := make([]any, 0, 5*len(es))
	for i, e := range es {
		payload, err := events.Encode(e)
		if err != nil {
			return 0, err
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?)")
		args = append(args, e.ID(), e.EventType(), e.Aggregate(), payload, dbTime(e.Time()))
	}
	r, err := tx.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("insert into tb_event: %w", err)
	}
	return r.RowsAffected()
}

// lockProducts locks, in id order, the product rows whose stock the events change.
func lockProducts(ctx context.Context, tx *sql.Tx, es []events.Event) error {
	var ids []int64
	for _, e := range es {
		if id, ok := stockProduct(e); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := `SELECT id FROM tb_seckill_product WHERE id IN (?` + strings.Repeat(", ?", len(ids)-1) + `) ORDER BY id FOR UPDATE`
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("lock products %v: %w", ids, err)
	}
	return rows.Close()
}

// stockProduct returns the product whose stock the event may change.
func stockProduct(e events.Event) (int64, bool) {
	switch v := e.(type) {
	case *events.SeckillReserved:
		return v.ProductID, true
	case events.SeckillReserved:
		return v.ProductID, true
	case *events.SeckillOrderCancelled:
		return v.ProductID, true
	case events.SeckillOrderCancelled:
		return v.ProductID, true
	}
	return 0, false
}
