package sale_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// productInMySQL writes the row of a product "Phone" at 10.00 with the given stock and version, as the
// projection leaves it, into a fresh MySQL database, and returns that database, a Redis client and the id.
func productInMySQL(t *testing.T, stock, version int64) (*sql.DB, *redis.Client, int64) {
	t.Helper()
	db := schematest.MySQL(t).DB
	rdb := schematest.RedisDB(t, schematest.RedisDBSale)
	id := schematest.ProductID(t, rdb)
	if _, err := db.Exec(`INSERT INTO tb_seckill_product (id, product_name, price, stock, version,
		create_time, update_time) VALUES (?, 'Phone', 10.00, ?, ?, NOW(3), NOW(3))`, id, stock, version); err != nil {
		t.Fatal(err)
	}
	return db, rdb, id
}

// TestWarmUpTakesTheListedStockOfTheFirstListing: a product MySQL knows and Redis lost is loaded back with the
// listed stock of its first ProductListed (lowest seq), whatever other ProductListed the event store holds for it
// and in whatever order the rows were written.
func TestWarmUpTakesTheListedStockOfTheFirstListing(t *testing.T) {
	db, rdb, id := productInMySQL(t, 80, 2)
	ctx := context.Background()
	listed := func(seq, stock int64) {
		t.Helper()
		e := events.ProductListed{EventID: uuid.NewString(), ProductID: id, Name: "Phone", Price: 1000, Stock: stock}
		payload, err := events.Encode(&e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO tb_event (seq, event_id, event_type, aggregate_id, payload,
			occurred_at) VALUES (?, ?, ?, ?, ?, NOW(3))`, seq, e.EventID, events.TypeProductListed, id, payload); err != nil {
			t.Fatal(err)
		}
	}
	listed(20, 55) // written first, listed second
	listed(10, 100)
	listed(30, 7)
	restored, err := newService(t, rdb, db).WarmUp(ctx)
	if err != nil || len(restored) != 1 || restored[0] != (sale.Restored{ProductID: id, Stock: 80}) {
		t.Fatalf("warm-up restored %+v (%v), want product %d with stock 80 and no orders", restored, err, id)
	}
	k := schema.KeysFor(id)
	if got, err := rdb.HGet(ctx, k.Info, "listed").Int64(); err != nil || got != 100 {
		t.Fatalf("listed stock in redis %d (%v), want 100 (the first listing's)", got, err)
	}
	if got, err := rdb.Get(ctx, k.Stock).Int64(); err != nil || got != 80 {
		t.Fatalf("stock in redis %d (%v), want MySQL's 80", got, err)
	}
}

// TestWarmUpOfMoreInstancesLeavesALiveSaleAlone: instances starting while a sale runs (two at once here) find the
// product in Redis and change nothing: not the stock, not the orders, not the order counter or event sequence.
func TestWarmUpOfMoreInstancesLeavesALiveSaleAlone(t *testing.T) {
	db, rdb, id := productInMySQL(t, 10, 0)
	ctx := context.Background()
	if _, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: id, Name: "Phone", Price: 1000, Stock: 10, Listed: 10}); err != nil {
		t.Fatal(err)
	}
	for user := int64(1); user <= 3; user++ { // sold in Redis, not yet in MySQL
		if r, err := schema.Reserve(ctx, rdb, id, user, 1, uuid.NewString(), time.Now()); err != nil || r.Outcome != schema.Reserved {
			t.Fatalf("reserve: %+v %v", r, err)
		}
	}
	before, err := schema.ReadSaleState(ctx, rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, svc := range []*sale.Service{newService(t, rdb, db), newService(t, rdb, db)} {
		go func() {
			restored, err := svc.WarmUp(ctx)
			if err == nil && len(restored) > 0 {
				err = fmt.Errorf("restored %+v, want nothing", restored)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	after, err := schema.ReadSaleState(ctx, rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	if after.Stock != 7 || after.EventSeq != before.EventSeq || len(after.Orders) != 3 || after.Listed != 10 {
		t.Fatalf("after two warm-ups: %+v, want the live sale unchanged (%+v)", after, before)
	}
	if r, err := schema.Reserve(ctx, rdb, id, 4, 1, uuid.NewString(), time.Now()); err != nil || r.OrderNo != fmt.Sprintf("SK%d-%08d", id, 4) {
		t.Fatalf("next reservation %+v (%v), want order number 4", r, err)
	}
}
