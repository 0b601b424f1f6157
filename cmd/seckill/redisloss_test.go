package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// TestRedisLosesItsDataWhileServeRuns flushes serve's Redis (a private redis-server, never the shared one) in the
// middle of a sale. While serve keeps running the sale is gone from the buy path: buys, payments, cancellations
// and the product page answer 404 and nothing is reserved or written, so nothing is sold twice; the listing
// cannot be repeated (409: MySQL holds it). Restarting serve warms the product up from MySQL (README, Limits):
// the earlier buyers are refused a second order, a new buyer gets the next order number, the earlier orders can
// be paid, and the audit of Redis against MySQL is consistent.
func TestRedisLosesItsDataWhileServeRuns(t *testing.T) {
	addr, _ := privateRedis(t, t.TempDir(), freePort(t))
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	a := startApp(t, map[string]string{"SECKILL_REDIS_ADDR": addr})
	id := a.list(10)
	orders := a.buyers(3, id, 1)
	if len(orders) != 3 {
		t.Fatalf("%d orders, want 3", len(orders))
	}
	a.waitFor("3 orders in MySQL and an empty outbox", 30*time.Second, func() bool {
		n, _, _ := schema.OutboxStats(context.Background(), rdb, id)
		return n == 0 && a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ?`, id) == 3
	})
	events := a.count(`SELECT COUNT(*) FROM tb_event`)

	if err := rdb.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	for what, st := range map[string]int{
		"a new buyer's buy":    func() int { _, st := a.buy(50, id); return st }(),
		"an earlier buyer's":   func() int { _, st := a.buy(1, id); return st }(),
		"paying an order":      a.pay(orders[0]),
		"cancelling an order":  a.cancel(orders[1]),
		"the product page":     a.send("GET", fmt.Sprintf("/seckill/products/%d", id), "", "").Status,
		"listing it again":     a.call("POST", "/admin/products", fmt.Sprintf(`{"id":%d,"name":"again","price":1,"stock":99}`, id)).Status,
		"its audit":            a.call("GET", fmt.Sprintf("/admin/products/%d/audit", id), "").Status,
		"the readiness probe":  a.send("GET", "/readyz", "", "").Status,
		"the buyer's result":   a.as(1, "GET", fmt.Sprintf("/seckill/result?productId=%d", id), "").Status,
		"the order from MySQL": a.as(a.owner(orders[0]), "GET", "/seckill/orders/"+orders[0], "").Status,
	} {
		want := map[string]int{"listing it again": http.StatusConflict, "the readiness probe": http.StatusOK,
			"the buyer's result": http.StatusOK, "the order from MySQL": http.StatusOK}[what]
		if want == 0 {
			want = http.StatusNotFound
		}
		if st != want {
			t.Errorf("%s after Redis lost its data: %d, want %d", what, st, want)
		}
	}
	if keys, err := rdb.DBSize(context.Background()).Result(); err != nil || keys != 0 {
		t.Errorf("the requests wrote %d keys into the flushed Redis (%v), want none", keys, err)
	}
	if n := a.count(`SELECT COUNT(*) FROM tb_event`); n != events {
		var typ, payload string
		_ = a.db.DB.QueryRow(`SELECT event_type, payload FROM tb_event ORDER BY seq DESC LIMIT 1`).Scan(&typ, &payload)
		t.Errorf("tb_event grew from %d to %d events while Redis had no sale: last %s %s", events, n, typ, payload)
	}

	a.stop()
	a.start() // the warm-up reloads the sale from MySQL
	if _, st := a.buy(1, id); st != http.StatusConflict {
		t.Fatalf("an earlier buyer bought again after the warm-up: %d, want 409", st)
	}
	no, st := a.buy(50, id)
	if st != http.StatusOK || no != fmt.Sprintf("SK%d-%08d", id, 4) {
		t.Fatalf("a new buyer after the warm-up: %d %s, want order number 4", st, no)
	}
	if st := a.pay(orders[0]); st != http.StatusOK {
		t.Fatalf("paying an earlier order after the warm-up: %d", st)
	}
	a.orderIn(orders[0], schema.StatePaid, 30*time.Second)
	a.waitFor("4 orders in MySQL and an empty outbox", 30*time.Second, func() bool {
		n, _, _ := schema.OutboxStats(context.Background(), rdb, id)
		return n == 0 && a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ?`, id) == 4
	})
	state, err := schema.ReadSaleState(context.Background(), rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	if state.Stock != 6 {
		t.Fatalf("redis stock %d after the warm-up and one more sale, want 6", state.Stock)
	}
	rep, err := projections.Audit(context.Background(), a.db.DB, id, state)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pending != 0 || !rep.OK() {
		t.Fatalf("audit after the warm-up:\n%s", rep)
	}
}
