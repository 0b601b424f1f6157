package sale_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// TestAuditCountsPendingEventsAndComparesOrderByOrder drives a sale through the real scripts and records its
// events in MySQL in a scrambled order: the audit counts every event not yet applied (reservations, payments and
// cancellations alike), stays consistent while they are pending, and once nothing is pending is consistent only
// if MySQL holds every order in the state Redis decided.
func TestAuditCountsPendingEventsAndComparesOrderByOrder(t *testing.T) {
	ctx := context.Background()
	rdb, db := schematest.Redis(t), schematest.MySQL(t).DB
	id := schematest.ProductID(t, rdb)
	store, err := projections.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	listing := &events.ProductListed{EventID: uuid.NewString(), ProductID: id, Name: "iPhone 15 Pro", Price: 699900,
		Stock: 2, ListedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if _, err := store.Record(ctx, listing); err != nil {
		t.Fatal(err)
	}
	if _, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: id, Name: listing.Name, Price: listing.Price,
		Stock: 2, Listed: 2}); err != nil {
		t.Fatal(err)
	}
	reserve := func(user int64) string {
		r, err := schema.Reserve(ctx, rdb, id, user, 1, uuid.NewString(), time.Now())
		if err != nil || r.Outcome != schema.Reserved {
			t.Fatalf("reserve: %+v, %v", r, err)
		}
		return r.OrderNo
	}
	settle := func(no string, target schema.Target) {
		s, err := schema.Settle(ctx, rdb, id, no, target, uuid.NewString(), time.Now())
		if err != nil || s.Outcome != schema.Settled {
			t.Fatalf("settle %s: %+v, %v", no, s, err)
		}
	}
	a, b := reserve(1), reserve(2)
	settle(a, schema.Cancelled(events.ReasonUser))
	c := reserve(3) // the unit a freed
	settle(b, schema.Paid)
	entries, err := schema.ReadOutbox(ctx, rdb, id, time.Now().Add(time.Minute), 100)
	if err != nil || len(entries) != 5 {
		t.Fatalf("outbox: %d entries, %v", len(entries), err)
	}
	audit := func() sale.Audit {
		t.Helper()
		got, err := sale.AuditProduct(ctx, rdb, db, id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := audit(); got.PendingEvents != 5 || got.OutboxEvents != 5 || !got.Consistent || got.Reserved != 2 ||
		got.RedisStock != 0 {
		t.Fatalf("before any event reached MySQL: %+v", got)
	}
	for i, k := range []int{3, 4, 2, 0} { // reservation of c, payment of b, cancellation of a, reservation of a
		if _, err := store.Record(ctx, entries[k].Event); err != nil {
			t.Fatal(err)
		}
		if err := schema.AckOutbox(ctx, rdb, id, entries[k].StreamID); err != nil {
			t.Fatal(err)
		}
		if got := audit(); got.PendingEvents != int64(4-i) || !got.Consistent {
			t.Fatalf("after %d events: %+v", i+1, got)
		}
	}
	if _, err := store.Record(ctx, entries[1].Event); err != nil { // reservation of b, last
		t.Fatal(err)
	}
	got := audit()
	if got.PendingEvents != 0 || !got.Consistent || got.Orders != 3 || got.Cancelled != 1 || got.MySQLStock != 0 ||
		got.RejectedEvents != 0 || len(got.Failures) != 0 {
		t.Fatalf("drained: %+v", got)
	}

	// An acknowledged order MySQL holds in another state, or lacks, is inconsistent once nothing is pending.
	if _, err := db.Exec(`UPDATE tb_seckill_order SET status = -1 WHERE order_no = ?`, c); err != nil {
		t.Fatal(err)
	}
	if got := audit(); got.Consistent || !strings.Contains(strings.Join(got.Failures, "\n"), c) {
		t.Fatalf("an order cancelled behind Redis's back: %+v", got)
	}
	if _, err := db.Exec(`DELETE FROM tb_seckill_order WHERE order_no = ?`, c); err != nil {
		t.Fatal(err)
	}
	if got := audit(); got.Consistent || !strings.Contains(strings.Join(got.Failures, "\n"), "MySQL lacks") {
		t.Fatalf("a missing order: %+v", got)
	}
}

// TestAuditReportsRejectedEvents: a sale Redis holds but MySQL never saw (MySQL lost it) is audited as
// inconsistent, with its rejected events counted apart, not left pending.
func TestAuditReportsRejectedEvents(t *testing.T) {
	ctx := context.Background()
	rdb, db := schematest.Redis(t), schematest.MySQL(t).DB
	id := schematest.ProductID(t, rdb)
	if _, err := sale.AuditProduct(ctx, rdb, db, id); !errors.Is(err, schema.ErrNoSale) {
		t.Fatalf("audit of an unknown product: %v, want ErrNoSale", err)
	}
	store, err := projections.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: id, Name: "x", Price: 100, Stock: 3, Listed: 3}); err != nil {
		t.Fatal(err)
	}
	if r, err := schema.Reserve(ctx, rdb, id, 1, 1, uuid.NewString(), time.Now()); err != nil || r.Outcome != schema.Reserved {
		t.Fatalf("reserve: %+v, %v", r, err)
	}
	entries, err := schema.ReadOutbox(ctx, rdb, id, time.Now().Add(time.Minute), 10)
	if err != nil || len(entries) != 1 {
		t.Fatalf("outbox: %v, %v", entries, err)
	}
	if out, err := store.Record(ctx, entries[0].Event); err != nil || out != projections.Rejected {
		t.Fatalf("record: %s, %v", out, err)
	}
	got, err := sale.AuditProduct(ctx, rdb, db, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Consistent || got.RejectedEvents != 1 {
		t.Fatalf("audit of a sale MySQL lost: %+v", got)
	}
}
