package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/schema/schematest"
)

func newStore(t testing.TB, db *sql.DB) *projections.Store {
	t.Helper()
	s, err := projections.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func record(t testing.TB, s *projections.Store, e events.Event, want projections.Outcome) {
	t.Helper()
	got, err := s.Record(context.Background(), e)
	if err != nil {
		t.Fatalf("record %s %s: %v", e.EventType(), e.ID(), err)
	}
	if got != want {
		t.Fatalf("record %s %s = %s, want %s", e.EventType(), e.ID(), got, want)
	}
}

func count(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// replay rebuilds the projection tables of to from the tb_event of from, in seq order, through projections.Apply,
// 500 events per transaction, as seckill replay does. Rejected events are part of the history and apply nothing.
func replay(t testing.TB, from, to *sql.DB) {
	t.Helper()
	ctx := context.Background()
	all := projectionstest.StoredEvents(t, from)
	for start := 0; start < len(all); start += 500 {
		tx, err := to.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := projections.NewApplier(tx)
		for _, e := range all[start:min(start+500, len(all))] {
			if err := a.Apply(ctx, e); err != nil && !errors.Is(err, projections.ErrRejected) {
				t.Fatalf("replay %s %s: %v", e.EventType(), e.ID(), err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestApplyEveryEventType(t *testing.T) {
	db := schematest.MySQL(t).DB
	s := newStore(t, db)
	sale := projectionstest.NewSale(1, 10)
	r1, r2, r3 := sale.Reserve(1001), sale.Reserve(1002), sale.Reserve(1003)
	paid, cancelled := sale.Pay(r1), sale.Cancel(r2, events.ReasonUser)
	for _, e := range []events.Event{sale.Listed, r1, r2, r3, paid, cancelled} {
		record(t, s, e, projections.Applied)
	}
	var stock, version int
	if err := db.QueryRow(`SELECT stock, version FROM tb_seckill_product WHERE id = 1`).Scan(&stock, &version); err != nil {
		t.Fatal(err)
	}
	if stock != 8 || version != 4 {
		t.Fatalf("stock %d version %d, want 8 and 4", stock, version)
	}
	for order, status := range map[string]int{r1.OrderNo: 1, r2.OrderNo: -1, r3.OrderNo: 0} {
		if n := count(t, db, `SELECT COUNT(*) FROM tb_seckill_order WHERE order_no = ? AND status = ?`, order, status); n != 1 {
			t.Fatalf("order %s: no row with status %d", order, status)
		}
	}
	var before, after int
	if err := db.QueryRow(`SELECT before_stock, after_stock FROM tb_stock_log WHERE order_no = ? AND type = 2`,
		r2.OrderNo).Scan(&before, &after); err != nil || before != 7 || after != 8 {
		t.Fatalf("rollback log %d -> %d (%v), want 7 -> 8", before, after, err)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM tb_user_seckill WHERE product_id = 1`); n != 2 {
		t.Fatalf("%d buyer marks, want 2 (the cancelled buyer may buy again)", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM tb_event`); n != 6 {
		t.Fatalf("%d events stored, want 6", n)
	}
	rep := projectionstest.RequireInvariants(t, db, 1)
	if rep.Listed != 10 || rep.Reserved != 2 || rep.Cancelled != 1 || rep.Paid != 1 {
		t.Fatalf("report %s", rep)
	}
	record(t, s, sale.Reserve(1002), projections.Applied)
	projectionstest.RequireInvariants(t, db, 1)
}

func TestRecordTwiceChangesNothing(t *testing.T) {
	db := schematest.MySQL(t).DB
	s := newStore(t, db)
	sale := projectionstest.NewSale(2, 100)
	rs := sale.Reservations(1, 20)
	all := append([]events.Event{sale.Listed}, rs...)
	all = append(all, sale.Pay(rs[0].(*events.SeckillReserved)), sale.Cancel(rs[1].(*events.SeckillReserved), events.ReasonPaymentTimeout))
	for _, e := range all {
		record(t, s, e, projections.Applied)
	}
	sums := projectionstest.Checksums(t, db)
	for _, e := range all {
		record(t, s, e, projections.Duplicate)
	}
	for i, r := range s.RecordBatch(context.Background(), all) {
		if r.Err != nil || r.Outcome != projections.Duplicate {
			t.Fatalf("batch redelivery of event %d: %s, %v", i, r.Outcome, r.Err)
		}
	}
	if again := projectionstest.Checksums(t, db); !maps.Equal(sums, again) {
		t.Fatalf("redelivery changed the tables:\n%v\n%v", sums, again)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM tb_event`); n != len(all) {
		t.Fatalf("%d events stored, want %d", n, len(all))
	}
	projectionstest.RequireInvariants(t, db, 2)
}

func TestRejectionLeavesNoPartialRows(t *testing.T) {
	db := schematest.MySQL(t).DB
	s := newStore(t, db)
	sale := projectionstest.NewSale(3, 2)
	first := sale.Reserve(7)
	paid := sale.Reserve(8)
	for _, e := range []events.Event{sale.Listed, first, paid, sale.Pay(paid)} {
		record(t, s, e, projections.Applied)
	}
	cases := map[string]events.Event{
		"unknown product":        projectionstest.NewSale(99, 5).Reserve(1),
		"not enough stock":       sale.Reserve(10),
		"second live order":      sale.Reserve(7),
		"product listed twice":   projectionstest.NewSale(3, 50).Listed,
		"cancel of a paid order": sale.Cancel(paid, events.ReasonUser),
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) {
			sums := projectionstest.Checksums(t, db)
			record(t, s, e, projections.Rejected)
			if after := projectionstest.Checksums(t, db); !maps.Equal(sums, after) {
				t.Fatalf("rejection changed the tables:\n%v\n%v", sums, after)
			}
			if n := count(t, db, `SELECT COUNT(*) FROM tb_event WHERE event_id = ?`, e.ID()); n != 1 {
				t.Fatalf("rejected event stored %d times, want once: it is a fact", n)
			}
			again := projections.Duplicate
			if e.EventType() == events.TypeSeckillReserved {
				again = projections.Rejected // its compensation may have failed: the caller compensates again
			}
			record(t, s, e, again)
		})
	}
	// The handlers compensate a rejected reservation; its cancellation applies nothing.
	for _, name := range []string{"not enough stock", "second live order"} {
		record(t, s, sale.Cancel(cases[name].(*events.SeckillReserved), events.ReasonRejected), projections.Applied)
	}
	projectionstest.RequireInvariants(t, db, 3)
}

func TestPaymentOfCancelledOrderIsRejected(t *testing.T) {
	db := schematest.MySQL(t).DB
	s := newStore(t, db)
	sale := projectionstest.NewSale(4, 5)
	r := sale.Reserve(1)
	for _, e := range []events.Event{sale.Listed, r, sale.Cancel(r, events.ReasonUser)} {
		record(t, s, e, projections.Applied)
	}
	record(t, s, sale.Pay(r), projections.Rejected)
	record(t, s, sale.Cancel(r, events.ReasonPaymentTimeout), projections.Applied) // already cancelled: no-op
	projectionstest.RequireInvariants(t, db, 4)
}

func TestOutOfOrderSettlementIsNotYetApplied(t *testing.T) {
	db := schematest.MySQL(t).DB
	s := newStore(t, db)
	sale := projectionstest.NewSale(5, 5)
	record(t, s, sale.Listed, projections.Applied)
	paidFirst, cancelledFirst, rejected := sale.Reserve(1), sale.Reserve(2), sale.Reserve(3)
	pay, cancel := sale.Pay(paidFirst), sale.Cancel(cancelledFirst, events.ReasonUser)
	for _, e := range []events.Event{pay, cancel} {
		if _, err := s.Record(context.Background(), e); !errors.Is(err, projections.ErrNotYetApplied) {
			t.Fatalf("%s before its reservation: %v, want ErrNotYetApplied", e.EventType(), err)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM tb_event WHERE event_id = ?`, e.ID()); n != 0 {
			t.Fatalf("%s recorded although not applied", e.EventType())
		}
	}
	record(t, s, sale.Cancel(rejected, events.ReasonRejected), projections.Applied)
	for _, e := range []events.Event{paidFirst, cancelledFirst, pay, cancel} {
		record(t, s, e, projections.Applied)
	}
	rep := projectionstest.RequireInvariants(t, db, 5)
	if rep.Paid != 1 || rep.Cancelled != 1 || rep.MySQLStock != 4 {
		t.Fatalf("report %s", rep)
	}
}

func TestRecordBatchOf1000Reservations(t *testing.T) {
	db := schematest.MySQL(t).DB
	s := newStore(t, db)
	sale := projectionstest.NewSale(6, 1500)
	record(t, s, sale.Listed, projections.Applied)
	rs := sale.Reservations(1, 1000)
	for i, r := range s.RecordBatch(context.Background(), rs) {
		if r.Err != nil || r.Outcome != projections.Applied {
			t.Fatalf("event %d: %s, %v", i, r.Outcome, r.Err)
		}
	}
	rep := projectionstest.RequireInvariants(t, db, 6)
	if rep.Orders != 1000 || rep.MySQLStock != 500 || rep.Version != 1000 {
		t.Fatalf("report %s", rep)
	}

	// A redelivered batch mixing recorded and new events, a duplicate inside the batch and a payment whose
	// reservation comes later: each event gets its own result.
	more := sale.Reservations(2001, 3)
	early := sale.Pay(sale.Reserve(3001))
	mixed := []events.Event{rs[0], more[0], more[1], more[1], early, rs[999], more[2]}
	want := []projections.Outcome{projections.Duplicate, projections.Applied, projections.Applied,
		projections.Duplicate, 0, projections.Duplicate, projections.Applied}
	for i, r := range s.RecordBatch(context.Background(), mixed) {
		if r.Outcome != want[i] || (i == 4) != errors.Is(r.Err, projections.ErrNotYetApplied) {
			t.Fatalf("event %d: %s, %v; want %s", i, r.Outcome, r.Err, want[i])
		}
	}
	if n := count(t, db, `SELECT COUNT(*) FROM tb_event WHERE event_id = ?`, early.ID()); n != 0 {
		t.Fatal("payment recorded although not applied")
	}
	projectionstest.RequireInvariants(t, db, 6)
}

// TestLiveTablesEqualReplayedTables records a sale through a Batcher from concurrent callers, with payments,
// cancellations, rejections and redeliveries, then rebuilds a second database from its tb_event with Apply.
func TestLiveTablesEqualReplayedTables(t *testing.T) {
	live, rebuilt := schematest.MySQL(t).DB, schematest.MySQL(t).DB
	s := newStore(t, live)
	b, err := projections.NewBatcher(s, projections.BatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sale := projectionstest.NewSale(7, 300)
	record(t, s, sale.Listed, projections.Applied)
	var stream []events.Event
	for i, e := range sale.Reservations(1, 320) {
		r := e.(*events.SeckillReserved)
		stream = append(stream, r)
		switch i % 5 {
		case 0:
			stream = append(stream, sale.Pay(r))
		case 1:
			stream = append(stream, sale.Cancel(r, events.ReasonPaymentTimeout))
		case 2:
			stream = append(stream, r) // redelivery
		}
	}
	var wg sync.WaitGroup
	next := make(chan events.Event)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range next {
				for {
					_, err := b.Record(context.Background(), e)
					if err == nil {
						break
					}
					if !errors.Is(err, projections.ErrNotYetApplied) {
						t.Errorf("record %s: %v", e.ID(), err)
						return
					}
				}
			}
		}()
	}
	for _, e := range stream {
		next <- e
	}
	close(next)
	wg.Wait()
	projectionstest.RequireInvariants(t, live, 7)
	replay(t, live, rebuilt)
	projectionstest.RequireSameTables(t, live, rebuilt)
}

func TestCheckInvariantsFindsBrokenTables(t *testing.T) {
	db := schematest.MySQL(t).DB
	s := newStore(t, db)
	sale := projectionstest.NewSale(8, 10)
	for _, e := range append([]events.Event{sale.Listed}, sale.Reservations(1, 3)...) {
		record(t, s, e, projections.Applied)
	}
	if _, err := db.Exec(`UPDATE tb_seckill_product SET stock = stock + 1 WHERE id = 8`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM tb_user_seckill WHERE user_id = 2`); err != nil {
		t.Fatal(err)
	}
	rep, err := projections.CheckInvariantsWithRedis(context.Background(), db, 8, 7)
	if err != nil {
		t.Fatal(err)
	}
	broken := map[string]bool{}
	for _, f := range rep.Failures {
		broken[f.Invariant] = true
	}
	if !broken[projections.InvariantConservation] || !broken[projections.InvariantNothingLost] || len(broken) != 2 {
		t.Fatalf("report %s", rep)
	}
}

// TestYoungConflictIsACancellationInFlight: a buyer who cancelled and bought again may see the new reservation
// arrive before the cancellation. Within the grace it is not yet applied (retried), not rejected; once the
// cancellation is in, it applies; a conflict older than the grace is rejected.
func TestYoungConflictIsACancellationInFlight(t *testing.T) {
	db := schematest.MySQL(t).DB
	now := projectionstest.Epoch.Add(time.Second)
	s, err := projections.NewStoreWithGrace(db, 30*time.Second, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	sale := projectionstest.NewSale(5, 1)
	old := sale.Reserve(7)
	record(t, s, sale.Listed, projections.Applied)
	record(t, s, old, projections.Applied)
	cancel := sale.Cancel(old, events.ReasonUser)
	again := sale.Reserve(7)
	for _, batch := range []bool{false, true} {
		var err error
		if batch {
			err = s.RecordBatch(context.Background(), []events.Event{again})[0].Err
		} else {
			_, err = s.Record(context.Background(), again)
		}
		if !errors.Is(err, projections.ErrNotYetApplied) || errors.Is(err, projections.ErrRejected) {
			t.Fatalf("young conflict (batch %v): %v, want ErrNotYetApplied only", batch, err)
		}
	}
	if n := count(t, db, `SELECT COUNT(*) FROM tb_event WHERE event_id = ?`, again.ID()); n != 0 {
		t.Fatalf("a not-yet-applied event was stored %d times", n)
	}
	record(t, s, cancel, projections.Applied)
	record(t, s, again, projections.Applied)

	now = now.Add(time.Minute)
	late := sale.Reserve(7)
	late.ReservedAt = projectionstest.Epoch
	record(t, s, late, projections.Rejected)
}

// TestReservationSupersededByALaterOrder: a buyer cancels and buys again at once, and the events reach the
// projection as new reservation, its payment, old reservation, old cancellation. The old reservation is
// recorded as cancelled (a later order of the buyer proves it was), its cancellation is then a no-op, and
// ApplyAll in one batch gives the same tables as Record one event at a time.
func TestReservationSupersededByALaterOrder(t *testing.T) {
	sale := projectionstest.NewSale(6, 1)
	old := sale.Reserve(7)
	cancel := sale.Cancel(old, events.ReasonUser)
	again := sale.Reserve(7)
	paid := sale.Pay(again)
	arrival := []events.Event{sale.Listed, again, paid, old, cancel}

	one := schematest.MySQL(t).DB
	s := newStore(t, one)
	for _, e := range arrival {
		record(t, s, e, projections.Applied)
	}
	status := func(db *sql.DB, no string) int {
		return count(t, db, `SELECT status FROM tb_seckill_order WHERE order_no = ?`, no)
	}
	if status(one, old.OrderNo) != -1 || status(one, again.OrderNo) != 1 {
		t.Fatalf("old order %d, new order %d; want cancelled and paid", status(one, old.OrderNo), status(one, again.OrderNo))
	}
	if n := count(t, one, `SELECT COUNT(*) FROM tb_user_seckill WHERE user_id = 7 AND order_no = ?`, again.OrderNo); n != 1 {
		t.Fatalf("the buyer's mark is not the new order")
	}
	projectionstest.RequireInvariants(t, one, 6)

	all := schematest.MySQL(t).DB
	tx, err := all.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range projections.NewApplier(tx).ApplyAll(context.Background(), arrival) {
		if err != nil {
			t.Fatalf("ApplyAll event %d: %v", i, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	projectionstest.RequireSameTables(t, one, all)
}
