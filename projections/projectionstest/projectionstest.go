// Package projectionstest builds consistent event streams of one sale and checks the contract's invariants in
// tests of the projections and of the handlers that feed them.
package projectionstest

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/eventstore"
	"github.com/seckill/seckill/projections"
)

// Epoch is the time of the first event of every sale built here; event times follow it by the millisecond.
var Epoch = time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)

// Sale is a product listed for a sale and the events of its orders, as the Redis scripts would have raised them:
// each reservation, payment and cancellation takes the product's next event sequence number (Seq) and the
// running stock. It is not safe for concurrent use.
type Sale struct {
	Listed *events.ProductListed
	stock  int64
	orders int
	seq    int64
	clock  time.Duration
}

// NewSale lists product id with the given stock, at Epoch.
func NewSale(id, stock int64) *Sale {
	return &Sale{stock: stock, Listed: &events.ProductListed{EventID: uuid.NewString(), ProductID: id,
		Name: "iPhone 15 Pro", Price: 699900, Stock: stock, ListedAt: Epoch}}
}

func (s *Sale) tick() time.Time {
	s.clock += time.Millisecond
	return Epoch.Add(s.clock)
}

// Reserve returns the SeckillReserved of one unit for user, with a new order number and the sale's running stock
// before and after.
func (s *Sale) Reserve(user int64) *events.SeckillReserved {
	s.stock--
	s.orders++
	s.seq++
	return &events.SeckillReserved{EventID: uuid.NewString(), OrderNo: fmt.Sprintf("SK%d-%08d", s.Listed.ProductID, s.orders),
		UserID: user, ProductID: s.Listed.ProductID, ProductName: s.Listed.Name, Price: s.Listed.Price, Quantity: 1,
		StockBefore: s.stock + 1, StockAfter: s.stock, ReservedAt: s.tick(), Seq: s.seq}
}

// Stock is the sale's running stock, as Redis has it after the events built so far.
func (s *Sale) Stock() int64 { return s.stock }

// Reservations returns n reservations, for users first, first+1, ...
func (s *Sale) Reservations(first int64, n int) []events.Event {
	out := make([]events.Event, n)
	for i := range out {
		out[i] = s.Reserve(first + int64(i))
	}
	return out
}

// Pay returns the SeckillOrderPaid of a reservation.
func (s *Sale) Pay(r *events.SeckillReserved) *events.SeckillOrderPaid {
	s.seq++
	return &events.SeckillOrderPaid{EventID: uuid.NewString(), OrderNo: r.OrderNo, UserID: r.UserID,
		ProductID: r.ProductID, PaidAt: s.tick(), Seq: s.seq, ProductName: r.ProductName, Price: r.Price,
		Quantity: r.Quantity}
}

// Cancel returns the SeckillOrderCancelled of a reservation; the stock goes back to the sale.
func (s *Sale) Cancel(r *events.SeckillReserved, reason string) *events.SeckillOrderCancelled {
	s.stock += r.Quantity
	s.seq++
	return &events.SeckillOrderCancelled{EventID: uuid.NewString(), OrderNo: r.OrderNo, UserID: r.UserID,
		ProductID: r.ProductID, Quantity: r.Quantity, Reason: reason, CancelledAt: s.tick(), Seq: s.seq,
		StockBefore: s.stock - r.Quantity, StockAfter: s.stock, ProductName: r.ProductName, Price: r.Price}
}

// FirstRelease returns a copy of e as the first release raised it: without the fields added since (Seq, and the
// settlements' stock, name, price and, for a payment, quantity).
func FirstRelease(e events.Event) events.Event {
	switch v := e.(type) {
	case *events.SeckillReserved:
		c := *v
		c.Seq = 0
		return &c
	case *events.SeckillOrderPaid:
		return &events.SeckillOrderPaid{EventID: v.EventID, OrderNo: v.OrderNo, UserID: v.UserID,
			ProductID: v.ProductID, PaidAt: v.PaidAt}
	case *events.SeckillOrderCancelled:
		return &events.SeckillOrderCancelled{EventID: v.EventID, OrderNo: v.OrderNo, UserID: v.UserID,
			ProductID: v.ProductID, Quantity: v.Quantity, Reason: v.Reason, CancelledAt: v.CancelledAt}
	}
	return e
}

// RequireInvariants fails the test unless every invariant of the product holds in db.
func RequireInvariants(t testing.TB, db *sql.DB, productID int64) projections.Report {
	t.Helper()
	r, err := projections.CheckInvariants(context.Background(), db, productID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("invariants broken:\n%s", r)
	}
	return r
}

// Checksums returns projections.Checksums of db, failing the test on error.
func Checksums(t testing.TB, db *sql.DB) map[string]string {
	t.Helper()
	sums, err := projections.Checksums(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// RequireSameTables fails the test unless the projection tables of a and b have equal checksums.
func RequireSameTables(t testing.TB, a, b *sql.DB) {
	t.Helper()
	if sa, sb := Checksums(t, a), Checksums(t, b); !maps.Equal(sa, sb) {
		t.Fatalf("projection tables differ:\n%v\n%v", sa, sb)
	}
}

// StoredEvents returns the events of db's tb_event in seq order (eventstore.Read), optionally only those whose
// type is not in except.
func StoredEvents(t testing.TB, db *sql.DB, except ...string) []events.Event {
	t.Helper()
	stored, err := eventstore.Read(context.Background(), db, 0, math.MaxInt64, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	var all []events.Event
	for _, s := range stored {
		if slices.Contains(except, s.Type) {
			continue
		}
		if s.Err != nil {
			t.Fatalf("seq %d: %v", s.Seq, s.Err)
		}
		all = append(all, s.Event)
	}
	return all
}
