package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/handlers"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

func TestRedisSettlerCancelsOnce(t *testing.T) {
	ctx := context.Background()
	rdb := schematest.Redis(t)
	id := schematest.ProductID(t, rdb)
	if _, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: id, Name: "x", Price: 100, Stock: 5, Listed: 5}); err != nil {
		t.Fatal(err)
	}
	r, err := schema.Reserve(ctx, rdb, id, 42, 1, uuid.NewString(), time.Now())
	if err != nil || r.Outcome != schema.Reserved {
		t.Fatalf("reserve: %+v, %v", r, err)
	}
	s := handlers.RedisSettler{RDB: rdb}
	for range 2 {
		if err := s.CancelOrder(ctx, id, r.OrderNo, events.ReasonPaymentTimeout); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CancelOrder(ctx, id, "SK-unknown", events.ReasonRejected); err != nil {
		t.Fatalf("unknown order: %v", err)
	}
	if stock, err := rdb.Get(ctx, schema.KeysFor(id).Stock).Int64(); err != nil || stock != 5 {
		t.Fatalf("stock %d (%v), want 5: cancelled exactly once", stock, err)
	}
}
