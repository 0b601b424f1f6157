// Package eventstore is the append-only event store, tb_event: every event the sale decided, once per event id,
// numbered by seq in commit order. It appends with dedupe by event id and reads back in seq order; it knows
// nothing of the projection tables built from it (package projections) nor of who writes it (the live consumers
// through projections.Store, the history generator in tests and benchmarks).
//
// Every function takes the handle to run on (a *sql.DB, or the *sql.Tx of a caller that writes more in the same
// transaction) and is safe for concurrent use as that handle is. Appending an event twice is a no-op the second
// time, because tb_event.event_id is unique.
package eventstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

// Execer runs a statement: a *sql.DB or a *sql.Tx.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Querier runs a query: a *sql.DB or a *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rowsPerInsert bounds the rows of one multi-row INSERT: six placeholders a row stay far below the 65,535 of a
// prepared statement.
const rowsPerInsert = 2000

// Append appends es to tb_event with INSERT IGNORE and returns how many were new: an event whose id is already
// recorded (or repeated in es) is skipped. recorded_at is the database's clock at the insert. On ex a
// transaction, the events become visible, and get their seq, only when it commits; after an error the caller
// rolls it back.
func Append(ctx context.Context, ex Execer, es []events.Event) (int64, error) {
	return insert(ctx, ex, es, false)
}

// AppendBackdated appends es like Append, but records each as at the time it occurred (recorded_at =
// occurred_at): a generated or imported history, which seckill replay --until-time then cuts as if it had
// been recorded live.
func AppendBackdated(ctx context.Context, ex Execer, es []events.Event) (int64, error) {
	return insert(ctx, ex, es, true)
}

func insert(ctx context.Context, ex Execer, es []events.Event, backdated bool) (int64, error) {
	cols, tuple := "event_id, event_type, aggregate_id, payload, occurred_at", "(?, ?, ?, ?, ?)"
	if backdated {
		cols, tuple = cols+", recorded_at", "(?, ?, ?, ?, ?, ?)"
	}
	var total int64
	for start := 0; start < len(es); start += rowsPerInsert {
		chunk := es[start:min(start+rowsPerInsert, len(es))]
		args := make([]any, 0, 6*len(chunk))
		for _, e := range chunk {
			payload, err := events.Encode(e)
			if err != nil {
				return total, err
			}
			at := dbTime(e.Time())
			args = append(args, e.ID(), e.EventType(), e.Aggregate(), payload, at)
			if backdated {
				args = append(args, at)
			}
		}
		q := `INSERT IGNORE INTO ` + schema.EventTable + ` (` + cols + `) VALUES ` + tuple +
			strings.Repeat(", "+tuple, len(chunk)-1)
		r, err := ex.ExecContext(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("insert into %s: %w", schema.EventTable, err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("insert into %s: %w", schema.EventTable, err)
		}
		total += n
	}
	return total, nil
}

// Stored is one row of tb_event, decoded; Err is set (and Event nil) when its payload does not decode.
type Stored struct {
	Seq   int64
	Type  string
	Event events.Event
	Err   error
}

// Read returns at most limit events with after < seq ≤ until, in seq order. An event that does not decode
// (unknown type, bad payload) is returned with its Err set, so the caller decides to stop or skip.
func Read(ctx context.Context, q Querier, after, until int64, limit int) ([]Stored, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, event_type, payload FROM `+schema.EventTable+
		` WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, after, until, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s after seq %d: %w", schema.EventTable, after, err)
	}
	defer rows.Close()
	out := make([]Stored, 0, min(limit, 4096))
	var payload []byte
	for rows.Next() {
		var s Stored
		if err := rows.Scan(&s.Seq, &s.Type, &payload); err != nil {
			return nil, fmt.Errorf("read %s after seq %d: %w", schema.EventTable, after, err)
		}
		s.Event, s.Err = events.Decode(s.Type, payload)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s after seq %d: %w", schema.EventTable, after, err)
	}
	return out, nil
}

// LastSeq returns the highest seq of tb_event, 0 when it is empty.
func LastSeq(ctx context.Context, q Querier) (int64, error) {
	var seq int64
	if err := q.QueryRowContext(ctx, `SELECT IFNULL(MAX(seq), 0) FROM `+schema.EventTable).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read last seq: %w", err)
	}
	return seq, nil
}

// LastSeqRecordedBy returns the seq of the last event recorded (recorded_at) at or before t, 0 when none was.
// recorded_at, unlike occurred_at, follows the commit order that seq follows, so the events up to that seq are
// the history as it stood at t.
func LastSeqRecordedBy(ctx context.Context, q Querier, t time.Time) (int64, error) {
	var seq int64
	if err := q.QueryRowContext(ctx, `SELECT IFNULL(MAX(seq), 0) FROM `+schema.EventTable+` WHERE recorded_at <= ?`,
		t.UTC()).Scan(&seq); err != nil {
		return 0, fmt.Errorf("find last seq recorded by %s: %w", t.Format(time.RFC3339), err)
	}
	return seq, nil
}

// Count returns the number of events with after < seq ≤ until.
func Count(ctx context.Context, q Querier, after, until int64) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+schema.EventTable+` WHERE seq > ? AND seq <= ?`,
		after, until).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// Empty reports whether tb_event holds no event.
func Empty(ctx context.Context, q Querier) (bool, error) {
	var one int
	switch err := q.QueryRowContext(ctx, `SELECT 1 FROM `+schema.EventTable+` LIMIT 1`).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read %s: %w", schema.EventTable, err)
	}
	return false, nil
}

// dbTime is the DATETIME(3) value of an event time: UTC, milliseconds.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
