package projections_test

import (
	"context"
	"database/sql"
	"maps"
	"sync"
	"testing"

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
// 500 events per transaction, as seckill replay does.
func replay(t testing.TB, from, to *sql.DB) {
	t.Helper()
	applyInChunks(t, to, projectionstest.StoredEvents(t, from), 500)
}

// applyInChunks applies es with projections.Apply in transactions of n events.
func applyInChunks(t testing.TB, db *sql.DB, es []events.Event, n int) {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < len(es); start += n {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := projections.Apply(ctx, tx, es[start:min(start+n, len(es))]); err != nil {
			t.Fatalf("apply events %d..: %v", start, err)
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

// TestRejectionOnlyForWhatMySQLCannotHold: an order event of a product MySQL has no row of, and a second listing,
// are recorded (they are facts) and change nothing; delivered again they are duplicates. Nothing else is ever
// rejected (the other tests apply every event).
func TestRejectionOnlyForWhatMySQLCannotHold(t *testing.T) {
	db := schematest.MySQL(t).DB
	s := newStore(t, db)
	sale := projectionstest.NewSale(3, 2)
	record(t, s, sale.Listed, projections.Applied)
	record(t, s, sale.Reserve(7), projections.Applied)
	lost := projectionstest.NewSale(99, 5)
	r := lost.Reserve(1)
	cases := map[string]events.Event{
		"reservation of an unknown product":  r,
		"payment of an unknown product":      lost.Pay(r),
		"cancellation of an unknown product": lost.Cancel(lost.Reserve(2), events.ReasonUser),
		"product listed twice":               projectionstest.NewSale(3, 50).Listed,
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
			record(t, s, e, projections.Duplicate)
		})
	}
	projectionstest.RequireInvariants(t, db, 3)
	rep, err := projections.CheckInvariants(context.Background(), db, 99)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Rejected != 3 {
		t.Fatalf("the product MySQL lost: report %s, want 3 rejected events and broken invariants", rep)
	}
}

// TestSettlementBeforeItsReservation: a payment or cancellation that arrives before its reservation applies at
// once (no retry, no wait): it writes the whole order row, and the reservation later gives the tables the
// history gives in order.
func TestSettlementBeforeItsReservation(t *testing.T) {
	sale := projectionstest.NewSale(5, 5)
	paidFirst, cancelledFirst := sale.Reserve(1), sale.Reserve(2)
	pay, cancel := sale.Pay(paidFirst), sale.Cancel(cancelledFirst, events.ReasonUser)
	inOrder, early := schematest.MySQL(t).DB, schematest.MySQL(t).DB
	for _, e := range []events.Event{sale.Listed, paidFirst, cancelledFirst, pay, cancel} {
		record(t, newStore(t, inOrder), e, projections.Applied)
	}
	s := newStore(t, early)
	for _, e := range []events.Event{sale.Listed, pay, cancel} {
		record(t, s, e, projections.Applied)
	}
	var name string
	var price events.Money
	var qty, status int
	if err := early.QueryRow(`SELECT product_name, price, quantity, status FROM tb_seckill_order WHERE order_no = ?`,
		paidFirst.OrderNo).Scan(&name, &price, &qty, &status); err != nil || name != "iPhone 15 Pro" ||
		price != 699900 || qty != 1 || status != 1 {
		t.Fatalf("order row of a payment before its reservation: %s %s %d %d (%v)", name, price, qty, status, err)
	}
	if n := count(t, early, `SELECT stock FROM tb_seckill_product WHERE id = 5`); n != 4 {
		t.Fatalf("stock %d after the cancellation alone, want its stockAfter 4", n)
	}
	for _, e := range []events.Event{cancelledFirst, paidFirst} {
		record(t, s, e, projections.Applied)
	}
	projectionstest.RequireSameTables(t, inOrder, early)
	rep := projectionstest.RequireInvariants(t, early, 5)
	if rep.Paid != 1 || rep.Cancelled != 1 || rep.MySQLStock != 4 {
		t.Fatalf("report %s", rep)
	}
}

// TestFreedUnitReservedBeforeItsCancellation: the last unit, cancelled by one buyer, is reserved by another, and
// the new reservation reaches MySQL first; then the same happens to one buyer who cancels and buys again. Every
// order of each arrival is applied (none rejected), the stock is never negative, and the tables equal those of
// the history in order.
func TestFreedUnitReservedBeforeItsCancellation(t *testing.T) {
	sale := projectionstest.NewSale(6, 1)
	first := sale.Reserve(7)
	freed := sale.Cancel(first, events.ReasonPaymentTimeout)
	other := sale.Reserve(8)
	otherFreed := sale.Cancel(other, events.ReasonUser)
	again := sale.Reserve(8) // the same buyer buys again
	paid := sale.Pay(again)
	history := []events.Event{sale.Listed, first, freed, other, otherFreed, again, paid}
	inOrder := schematest.MySQL(t).DB
	for _, e := range history {
		record(t, newStore(t, inOrder), e, projections.Applied)
	}
	arrivals := map[string][]events.Event{
		"reuse first":         {sale.Listed, other, first, again, paid, otherFreed, freed},
		"rebuy first":         {sale.Listed, again, paid, other, otherFreed, first, freed},
		"settlements first":   {sale.Listed, paid, otherFreed, freed, again, other, first},
		"everything reversed": {sale.Listed, paid, again, otherFreed, other, freed, first},
	}
	for name, arrival := range arrivals {
		t.Run(name, func(t *testing.T) {
			db := schematest.MySQL(t).DB
			s := newStore(t, db)
			for _, e := range arrival {
				record(t, s, e, projections.Applied)
				if n := count(t, db, `SELECT stock FROM tb_seckill_product WHERE id = 6`); n < 0 {
					t.Fatalf("stock %d after %s %s", n, e.EventType(), e.Aggregate())
				}
			}
			projectionstest.RequireSameTables(t, inOrder, db)
			if n := count(t, db, `SELECT COUNT(*) FROM tb_user_seckill WHERE user_id = 8 AND order_no = ?`, again.OrderNo); n != 1 {
				t.Fatal("the buyer's mark is not the order bought again")
			}
		})
	}
	projectionstest.RequireInvariants(t, inOrder, 6)
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
	// reservation comes later: each event gets its own result, and the payment applies at once.
	more := sale.Reservations(2001, 3)
	late := sale.Reserve(3001)
	early := sale.Pay(late)
	mixed := []events.Event{rs[0], more[0], more[1], more[1], early, rs[999], more[2]}
	want := []projections.Outcome{projections.Duplicate, projections.Applied, projections.Applied,
		projections.Duplicate, projections.Applied, projections.Duplicate, projections.Applied}
	for i, r := range s.RecordBatch(context.Background(), mixed) {
		if r.Outcome != want[i] || r.Err != nil {
			t.Fatalf("event %d: %s, %v; want %s", i, r.Outcome, r.Err, want[i])
		}
	}
	record(t, s, late, projections.Applied)
	projectionstest.RequireInvariants(t, db, 6)
}

// TestLiveTablesEqualReplayedTables records a sale through a Batcher from concurrent callers, with payments,
// cancellations and redeliveries, then rebuilds a second database from its tb_event with Apply.
func TestLiveTablesEqualReplayedTables(t *testing.T) {
	live, rebuilt := schematest.MySQL(t).DB, schematest.MySQL(t).DB
	s := newStore(t, live)
	b, err := projections.NewBatcher(s, projections.BatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sale := projectionstest.NewSale(7, 320)
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
				if _, err := b.Record(context.Background(), e); err != nil {
					t.Errorf("record %s: %v", e.ID(), err)
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
