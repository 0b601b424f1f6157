package projections_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	seckillreplay "github.com/seckill/seckill/replay"
	"github.com/seckill/seckill/schema/schematest"
)

// conflictHistory returns n events over three listed products and one unknown, with few buyers and little stock,
// so that it is full of the cases ApplyAll decides in memory: second live orders, stock below the quantity,
// unknown products, payments of cancelled orders, cancellations of paid ones, settlements before their
// reservation (not yet applied), repeated settlements, rejected reservations compensated, a product listed
// twice and one listed midway. Event times jump back and forth, so update_time takes the latest, not the last.
func conflictHistory(seed uint64, n int) []events.Event {
	rng := rand.New(rand.NewPCG(seed, seed))
	at := func() time.Time {
		return projectionstest.Epoch.Add(time.Duration(rng.IntN(600_000)) * time.Millisecond)
	}
	id := func() string { return uuid.NewString() }
	var out []events.Event
	list := func(p int64) {
		out = append(out, &events.ProductListed{EventID: id(), ProductID: p, Name: fmt.Sprintf("item %d", p),
			Price: events.Money(1000 * p), Stock: 3 + rng.Int64N(6), ListedAt: projectionstest.Epoch})
	}
	for p := int64(1); p <= 3; p++ {
		list(p)
	}
	var reserved []*events.SeckillReserved
	orders := 0
	next := func(p int64) string { orders++; return fmt.Sprintf("SK%d-%08d", p, orders) }
	var future []string // order numbers settled before their reservation
	for len(out) < n {
		switch u := rng.IntN(100); {
		case u < 45:
			p := 1 + rng.Int64N(4) // product 4 is never listed, except midway
			no := next(p)
			if len(future) > 0 && rng.IntN(3) == 0 {
				no, future = future[0], future[1:]
				p = int64(no[2] - '0')
			}
			stock := rng.Int64N(10)
			r := &events.SeckillReserved{EventID: id(), OrderNo: no, UserID: 1 + rng.Int64N(6), ProductID: p,
				ProductName: fmt.Sprintf("item %d", p), Price: events.Money(1000 * p), Quantity: 1 + rng.Int64N(2),
				StockBefore: stock + 1, StockAfter: stock, ReservedAt: at()}
			reserved = append(reserved, r)
			out = append(out, r)
		case u < 65 && len(reserved) > 0:
			r := reserved[rng.IntN(len(reserved))]
			out = append(out, &events.SeckillOrderPaid{EventID: id(), OrderNo: r.OrderNo, UserID: r.UserID,
				ProductID: r.ProductID, PaidAt: at()})
		case u < 90 && len(reserved) > 0:
			r := reserved[rng.IntN(len(reserved))]
			reason := []string{events.ReasonUser, events.ReasonPaymentTimeout, events.ReasonRejected}[rng.IntN(3)]
			out = append(out, &events.SeckillOrderCancelled{EventID: id(), OrderNo: r.OrderNo, UserID: r.UserID,
				ProductID: r.ProductID, Quantity: r.Quantity, Reason: reason, CancelledAt: at()})
		case u < 97:
			p := 1 + rng.Int64N(3)
			no := next(p)
			future = append(future, no)
			if rng.IntN(2) == 0 {
				out = append(out, &events.SeckillOrderPaid{EventID: id(), OrderNo: no, UserID: 1, ProductID: p, PaidAt: at()})
			} else {
				out = append(out, &events.SeckillOrderCancelled{EventID: id(), OrderNo: no, UserID: 1, ProductID: p,
					Quantity: 1, Reason: events.ReasonUser, CancelledAt: at()})
			}
		default:
			list(1 + rng.Int64N(4)) // mostly listed twice (rejected); product 4 once, then reservable
		}
	}
	return out
}

// applyChunks applies es to db in transactions of the given sizes (cycled), either event by event with Apply or
// with ApplyAll, and returns each event's error text ("" for nil). A fatal error fails the test.
func applyChunks(t *testing.T, db *sql.DB, es []events.Event, sizes []int, bulk bool) []string {
	t.Helper()
	ctx := context.Background()
	out := make([]string, len(es))
	for start, k := 0, 0; start < len(es); k++ {
		end := min(start+sizes[k%len(sizes)], len(es))
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		a := projections.NewApplier(tx)
		var errs []error
		if bulk {
			errs = a.ApplyAll(ctx, es[start:end])
		} else {
			for _, e := range es[start:end] {
				errs = append(errs, a.Apply(ctx, e))
			}
		}
		for i, err := range errs {
			if err != nil && !errors.Is(err, projections.ErrRejected) && !errors.Is(err, projections.ErrNotYetApplied) {
				t.Fatalf("event %d (%s): %v", start+i, es[start+i].EventType(), err)
			}
			if err != nil {
				out[start+i] = err.Error()
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		start = end
	}
	return out
}

func requireSameResults(t *testing.T, es []events.Event, want, got []string) {
	t.Helper()
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("event %d (%s %s): Apply gave %q, ApplyAll %q", i, es[i].EventType(), es[i].Aggregate(),
				want[i], got[i])
		}
	}
}

// TestApplyAllEqualsApply applies randomized histories full of conflicts once event by event with Apply and once
// with ApplyAll, in transactions of varied sizes: every event gets the same result and the tables the same rows.
func TestApplyAllEqualsApply(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			es := conflictHistory(seed, 1500)
			one, all := schematest.MySQL(t).DB, schematest.MySQL(t).DB
			want := applyChunks(t, one, es, []int{500}, false)
			got := applyChunks(t, all, es, []int{1, 2, 3, 7, 64, 500, 911}, true)
			requireSameResults(t, es, want, got)
			projectionstest.RequireSameTables(t, one, all)
			var rejected, notYet int
			for _, w := range want {
				switch {
				case w == "":
				case strings.Contains(w, projections.ErrNotYetApplied.Error()):
					notYet++
				default:
					rejected++
				}
			}
			if rejected < 50 || notYet < 10 {
				t.Fatalf("history too tame: %d rejected, %d not yet applied", rejected, notYet)
			}
		})
	}
}

// TestApplyAllEqualsApplyOnGeneratedSale does the same over the sale seckill replay --generate writes.
func TestApplyAllEqualsApplyOnGeneratedSale(t *testing.T) {
	hist, err := seckillreplay.History(seckillreplay.GenerateOptions{Events: 6000, Products: 4, PayShare: 0.6, CancelShare: 0.2,
		Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var es []events.Event
	for e := range hist {
		es = append(es, e)
	}
	one, all := schematest.MySQL(t).DB, schematest.MySQL(t).DB
	want := applyChunks(t, one, es, []int{2000}, false)
	got := applyChunks(t, all, es, []int{2000, 5000}, true)
	requireSameResults(t, es, want, got)
	projectionstest.RequireSameTables(t, one, all)
}

// TestApplyAllReportsAFatalErrorAtItsEvent: a reservation of an order number that exists fails the transaction;
// ApplyAll reports it at that event, as Apply does, whether the order row was read in bulk or not.
func TestApplyAllReportsAFatalErrorAtItsEvent(t *testing.T) {
	db := schematest.MySQL(t).DB
	ctx := context.Background()
	sale := projectionstest.NewSale(9, 100)
	first := sale.Reservations(1, 5)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	for i, err := range projections.NewApplier(tx).ApplyAll(ctx, append([]events.Event{sale.Listed}, first...)) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	again := *first[2].(*events.SeckillReserved)
	again.EventID, again.UserID = uuid.NewString(), 99
	batch := append(sale.Reservations(10, 4), &again)
	batch = append(batch, sale.Reservations(20, 4)...)
	errs := projections.NewApplier(tx).ApplyAll(ctx, batch)
	for i, err := range errs {
		if (i == 4) != (err != nil) {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	if errors.Is(errs[4], projections.ErrRejected) {
		t.Fatalf("duplicate order number: %v, want a fatal error", errs[4])
	}
}
