package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/eventstore"
)

// Outcome is what recording an event did.
type Outcome int

// Outcomes of Store.Record and Store.RecordBatch.
const (
	// Applied: the event was new; it is in tb_event and the projection tables reflect it.
	Applied Outcome = iota + 1
	// Duplicate: the event id was already in tb_event; nothing changed.
	Duplicate
	// Rejected: the event is in tb_event (it is a fact) but MySQL cannot hold it: a reservation, payment or
	// cancellation of a product it has no row of (after a data loss), or a listing of a product already listed.
	// No projection row changed. It never happens in a sale without data loss; the audit reports such events.
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
// recorded and must be retried.
type Result struct {
	Outcome Outcome
	Err     error
}

// Store records events delivered live: it appends them to the event store (eventstore.Append) and applies them to
// the projection tables (Apply) in one transaction per call, so an event is never in tb_event without its effect. It is safe for concurrent use. Recording an event twice is
// a no-op the second time (Duplicate), whatever the delay between the two deliveries, because tb_event.event_id
// is unique. Events may be recorded in any order: nothing waits for another event (see the package doc).
type Store struct {
	db *sql.DB
}

// NewStore returns a Store over db, whose schema must be migrated (schema.Migrate).
func NewStore(db *sql.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("projections store: nil db")
	}
	return &Store{db: db}, nil
}

// Record records one event in one transaction: eventstore.Append (no new row = Duplicate), then Apply.
// A rejected event is committed to tb_event with no projection change. After an error nothing is recorded and
// the event must be delivered again.
//
// Before writing tb_event, Record locks the product row the event changes; the events of one product therefore
// get their tb_event.seq in the order they are applied, which replay follows.
func (s *Store) Record(ctx context.Context, e events.Event) (Outcome, error) {
	res, err := s.recordBatch(ctx, []events.Event{e}, false)
	if err != nil {
		return 0, fmt.Errorf("record event %s: %w", e.ID(), err)
	}
	return res[0].Outcome, nil
}

// RecordBatch records several events in one transaction with the idempotency of Record, returning one Result per
// event, in order. If the transaction fails, the events are recorded one by one with Record so that only a faulty
// one fails. It is safe for concurrent use.
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
			n, err := eventstore.Append(ctx, tx, es[i:i+1])
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
		n, err := eventstore.Append(ctx, tx, batch)
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
	applied := make([]events.Event, len(toApply))
	for j, i := range toApply {
		applied[j] = es[i]
	}
	outs, err := Apply(ctx, tx, applied)
	if err != nil {
		return nil, err
	}
	for j, i := range toApply {
		res[i].Outcome = outs[j]
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record batch: commit: %w", err)
	}
	return res, nil
}

// lockProducts locks, in id order, the product rows the events change.
func lockProducts(ctx context.Context, tx *sql.Tx, es []events.Event) error {
	_, err := lockProductRows(ctx, tx, es)
	return err
}
