package eventstore_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/eventstore"
	"github.com/seckill/seckill/schema/schematest"
)

var at = time.Date(2026, 11, 23, 20, 0, 0, 123_456_789, time.UTC)

func reserved(id, order string, seq int64) *events.SeckillReserved {
	return &events.SeckillReserved{EventID: id, OrderNo: order, UserID: 7, ProductID: 1, ProductName: "x",
		Price: 100, Quantity: 1, StockBefore: 10 - seq + 1, StockAfter: 10 - seq, ReservedAt: at.Add(time.Duration(seq) * time.Second), Seq: seq}
}

// TestAppendRecordsEachEventIdOnce: appending is idempotent by event id, within one call and across calls,
// and Read gives the events back in append order, decoded, with their seq.
func TestAppendRecordsEachEventIdOnce(t *testing.T) {
	ctx := context.Background()
	db := schematest.MySQL(t).DB
	if empty, err := eventstore.Empty(ctx, db); err != nil || !empty {
		t.Fatalf("Empty of a fresh store = %v, %v", empty, err)
	}
	a, b, c := reserved("00000000-0000-4000-8000-00000000000a", "SK1-1", 1),
		reserved("00000000-0000-4000-8000-00000000000b", "SK1-2", 2),
		reserved("00000000-0000-4000-8000-00000000000c", "SK1-3", 3)
	if n, err := eventstore.Append(ctx, db, []events.Event{a, b, a}); err != nil || n != 2 {
		t.Fatalf("Append(a, b, a) = %d, %v; want 2 new", n, err)
	}
	if n, err := eventstore.Append(ctx, db, []events.Event{b, c}); err != nil || n != 1 {
		t.Fatalf("Append(b, c) = %d, %v; want 1 new", n, err)
	}
	if n, err := eventstore.Append(ctx, db, []events.Event{a, b, c}); err != nil || n != 0 {
		t.Fatalf("Append of recorded events = %d, %v; want 0", n, err)
	}
	last, err := eventstore.LastSeq(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	got, err := eventstore.Read(ctx, db, 0, last, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []*events.SeckillReserved{a, b, c}
	if len(got) != len(want) {
		t.Fatalf("Read returned %d events, want %d", len(got), len(want))
	}
	for i, s := range got {
		r, ok := s.Event.(*events.SeckillReserved)
		if s.Err != nil || !ok || r.EventID != want[i].EventID || !r.ReservedAt.Equal(want[i].ReservedAt) {
			t.Fatalf("event %d = %+v (%v), want %s", i, s.Event, s.Err, want[i].EventID)
		}
		if i > 0 && s.Seq <= got[i-1].Seq {
			t.Fatalf("seqs %d then %d: not increasing", got[i-1].Seq, s.Seq)
		}
	}
	if s := got[2].Seq; s != last {
		t.Fatalf("LastSeq = %d, the last event read has seq %d", last, s)
	}
	if page, err := eventstore.Read(ctx, db, got[0].Seq, last, 1); err != nil || len(page) != 1 || page[0].Seq != got[1].Seq {
		t.Fatalf("Read after seq %d, limit 1 = %+v, %v; want the event of seq %d", got[0].Seq, page, err, got[1].Seq)
	}
	if n, err := eventstore.Count(ctx, db, got[0].Seq, last); err != nil || n != 2 {
		t.Fatalf("Count after the first = %d, %v; want 2", n, err)
	}
}

// TestAppendInTheCallersTransaction: the events are visible only once the caller's transaction commits, and a
// rollback leaves no trace.
func TestAppendInTheCallersTransaction(t *testing.T) {
	ctx := context.Background()
	db := schematest.MySQL(t).DB
	e := reserved("00000000-0000-4000-8000-0000000000e1", "SK1-1", 1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := eventstore.Append(ctx, tx, []events.Event{e}); err != nil || n != 1 {
		t.Fatalf("Append = %d, %v", n, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if empty, err := eventstore.Empty(ctx, db); err != nil || !empty {
		t.Fatalf("after a rollback Empty = %v, %v", empty, err)
	}
	if n, err := eventstore.Append(ctx, db, []events.Event{e}); err != nil || n != 1 {
		t.Fatalf("Append after the rollback = %d, %v; want 1 new", n, err)
	}
}

// TestAppendBackdatedRecordsAtTheEventTime: a generated history is recorded at the time its events occurred, so
// LastSeqRecordedBy cuts it as it would have stood; Append records at the database's clock.
func TestAppendBackdatedRecordsAtTheEventTime(t *testing.T) {
	ctx := context.Background()
	db := schematest.MySQL(t).DB
	es := []events.Event{reserved("00000000-0000-4000-8000-0000000000d1", "SK1-1", 1),
		reserved("00000000-0000-4000-8000-0000000000d2", "SK1-2", 2),
		reserved("00000000-0000-4000-8000-0000000000d3", "SK1-3", 3)}
	if n, err := eventstore.AppendBackdated(ctx, db, es); err != nil || n != 3 {
		t.Fatalf("AppendBackdated = %d, %v", n, err)
	}
	live := reserved("00000000-0000-4000-8000-0000000000d4", "SK1-4", 4)
	if _, err := eventstore.Append(ctx, db, []events.Event{live}); err != nil {
		t.Fatal(err)
	}
	stored, err := eventstore.Read(ctx, db, 0, math.MaxInt64, 10)
	if err != nil || len(stored) != 4 {
		t.Fatalf("Read = %d events, %v", len(stored), err)
	}
	for _, c := range []struct {
		by   time.Time
		want int64
	}{
		{at, 0},
		{es[1].Time(), stored[1].Seq}, // to the millisecond: tb_event keeps DATETIME(3)
		{es[2].Time().Add(time.Hour), stored[2].Seq},
		{time.Now().Add(time.Hour), stored[3].Seq},
	} {
		if got, err := eventstore.LastSeqRecordedBy(ctx, db, c.by); err != nil || got != c.want {
			t.Fatalf("LastSeqRecordedBy(%s) = %d, %v; want %d", c.by, got, err, c.want)
		}
	}
}

// TestReadReturnsUndecodableEvents: an event the registry does not know comes back with its error, not as a
// failure of the read, so that replay can stop at it or skip it.
func TestReadReturnsUndecodableEvents(t *testing.T) {
	ctx := context.Background()
	db := schematest.MySQL(t).DB
	if _, err := db.Exec(`INSERT INTO tb_event (event_id, event_type, aggregate_id, payload, occurred_at)
		VALUES ('00000000-0000-4000-8000-0000000000f1', 'SeckillTeleported', 'SK1-1', '{"eventId":"x"}', NOW(3))`); err != nil {
		t.Fatal(err)
	}
	e := reserved("00000000-0000-4000-8000-0000000000f2", "SK1-2", 1)
	if _, err := eventstore.Append(ctx, db, []events.Event{e}); err != nil {
		t.Fatal(err)
	}
	got, err := eventstore.Read(ctx, db, 0, math.MaxInt64, 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("Read = %d events, %v; want 2", len(got), err)
	}
	if got[0].Type != "SeckillTeleported" || !errors.Is(got[0].Err, events.ErrUnknownType) || got[0].Event != nil {
		t.Fatalf("first = %+v; want the unknown type with events.ErrUnknownType", got[0])
	}
	if got[1].Err != nil || got[1].Event.ID() != e.EventID {
		t.Fatalf("second = %+v; want %s decoded", got[1], e.EventID)
	}
}
