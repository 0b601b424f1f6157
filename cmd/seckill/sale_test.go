package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// TestSaleEndToEnd: a product with 500 units, 2,000 buyers through the HTTP API; within seconds MySQL holds
// exactly 500 orders, 500 deduct logs, 500 buyer rows, 500 SeckillReserved, stock 0 and version 500.
func TestSaleEndToEnd(t *testing.T) {
	a := startApp(t, nil)
	id := a.list(500)
	orders := a.buyers(2000, id, 1)
	if len(orders) != 500 {
		t.Fatalf("%d buyers got 200, want 500", len(orders))
	}
	rep := a.drained(id, 500, 60*time.Second)
	checks := map[string]int64{
		`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status = 0`:                                     500,
		`SELECT COUNT(*) FROM tb_stock_log WHERE product_id = ? AND type = 1`:                                           500,
		`SELECT COUNT(*) FROM tb_user_seckill WHERE product_id = ?`:                                                     500,
		`SELECT stock FROM tb_seckill_product WHERE id = ?`:                                                             0,
		`SELECT version FROM tb_seckill_product WHERE id = ?`:                                                           500,
		`SELECT COUNT(*) FROM tb_event WHERE event_type = 'SeckillReserved' AND JSON_VALUE(payload, '$.productId') = ?`: 500,
	}
	for q, want := range checks {
		if got := a.count(q, id); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	if rep.Listed != 500 {
		t.Errorf("report %+v", rep)
	}
	result := func(user int64) (string, *string) {
		r := a.as(user, "GET", fmt.Sprintf("/seckill/result?productId=%d", id), "")
		var res struct {
			Status  string  `json:"status"`
			OrderNo *string `json:"orderNo"`
		}
		if err := json.Unmarshal(r.Data, &res); r.Status != http.StatusOK || err != nil {
			t.Fatalf("result of buyer %d = %d %s (%v)", user, r.Status, r.Data, err)
		}
		return res.Status, res.OrderNo
	}
	// Drained: every order is in MySQL, so a buyer's result is CREATED, never PENDING.
	if st, no := result(a.owner(orders[0])); st != "CREATED" || no == nil || *no != orders[0] {
		t.Errorf("result of the buyer of %s = %s %v, want CREATED", orders[0], st, no)
	}
	if st, no := result(2001); st != "NONE" || no != nil { // 2001 bought nothing
		t.Errorf("result of a buyer without an order = %s %v, want NONE", st, no)
	}
	o := a.as(a.owner(orders[0]), "GET", "/seckill/orders/"+orders[0], "")
	if o.Status != http.StatusOK || !strings.Contains(string(o.Data), `"status":0`) || !strings.Contains(string(o.Data), `"price":6999.00`) {
		t.Errorf("order = %d %s", o.Status, o.Data)
	}
	audit := a.call("GET", fmt.Sprintf("/admin/products/%d/audit", id), "")
	if audit.Status != http.StatusOK || !strings.Contains(string(audit.Data), `"consistent":true`) {
		t.Errorf("audit = %d %s", audit.Status, audit.Data)
	}
}

// TestEveryEventDeliveredTwiceChangesNothing republishes every event of tb_event: no row changes.
func TestEveryEventDeliveredTwiceChangesNothing(t *testing.T) {
	a := startApp(t, nil)
	id := a.list(100)
	orders := a.buyers(150, id, 1)
	a.drained(id, int64(len(orders)), 60*time.Second)
	before, err := projections.Checksums(context.Background(), a.db.DB)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: []string{schematest.Namesrv(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	n := 0
	for _, e := range projectionstest.StoredEvents(t, a.db.DB, events.TypeProductListed) {
		msg, _ := eventmsg.ToMessage(e)
		if err := pub.Publish(a.env["SECKILL_TOPIC"], msg); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != len(orders) {
		t.Fatalf("republished %d events, want %d", n, len(orders))
	}
	// Redelivered events are duplicates: wait until the consumer has seen them all (metrics), then compare.
	a.waitFor("duplicates counted", 60*time.Second, func() bool {
		return a.metric(`seckill_events_recorded_total{outcome="duplicate",type="SeckillReserved"}`) >= float64(n)
	})
	after, err := projections.Checksums(context.Background(), a.db.DB)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("checksums changed:\n%v\n%v", before, after)
	}
	a.invariants(id)
}

// TestMySQLDownForTwentySecondsLosesNothing stops MariaDB in the middle of a sale: buyers keep buying, and every
// order appears once it is back.
func TestMySQLDownForTwentySecondsLosesNothing(t *testing.T) {
	// The retries must outlast the outage, as RocketMQ's 4h46m schedule does: 16 × 3s here.
	a := startApp(t, map[string]string{"SECKILL_RETRY_SCHEDULE": strings.TrimSuffix(strings.Repeat("3s,", 16), ",")})
	id := a.list(300)
	first := a.buyers(100, id, 1)
	services(t, "stop-mysql")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			services(t, "start-mysql")
		}
	})
	during := a.buyers(100, id, 1000)
	time.Sleep(20 * time.Second)
	services(t, "start-mysql")
	restarted = true
	after := a.buyers(100, id, 2000)
	total := int64(len(first) + len(during) + len(after))
	if total != 300 {
		t.Fatalf("%d reservations, want 300 (100 before, %d during, %d after the outage)", total, len(during), len(after))
	}
	a.drained(id, total, 120*time.Second)
	if n := a.count(`SELECT COUNT(*) FROM tb_dlq`); n != 0 {
		t.Fatalf("%d events parked in the DLQ during the outage", n)
	}
}

// metric reads one series of the app's /metrics (0 when absent).
func (a *app) metric(series string) float64 {
	resp, err := http.Get(a.base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestWarmUpAfterRedisLostItsData: Redis forgets a product while the server is down; at start the product comes
// back from MySQL with its stock, buyer marks and order counter, so nothing is sold twice and order numbers do
// not repeat.
func TestWarmUpAfterRedisLostItsData(t *testing.T) {
	a := startApp(t, nil)
	id := a.list(10)
	if orders := a.buyers(5, id, 1); len(orders) != 5 {
		t.Fatalf("%d orders", len(orders))
	}
	a.drained(id, 5, 30*time.Second)
	a.stop()
	rdb := schematest.Redis(t)
	k := schema.KeysFor(id)
	if err := rdb.Del(context.Background(), k.Stock, k.Info, k.Buyers, k.Orders, k.Seq, k.Outbox, k.EvSeq).Err(); err != nil {
		t.Fatal(err)
	}
	a.start()
	if _, st := a.buy(1, id); st != http.StatusConflict {
		t.Fatalf("a buyer with a live order bought again after the warm-up: %d", st)
	}
	no, st := a.buy(100, id)
	if st != http.StatusOK || no != fmt.Sprintf("SK%d-%08d", id, 6) {
		t.Fatalf("new buyer: %d %s, want order number 6", st, no)
	}
	a.drained(id, 6, 30*time.Second)
}

// TestConsumeRunsTheConsumersAlone: `seckill serve` with SECKILL_CONSUMERS=false takes the orders, and a separate
// `seckill consume` projects them.
func TestConsumeRunsTheConsumersAlone(t *testing.T) {
	a := startApp(t, map[string]string{"SECKILL_CONSUMERS": "false"})
	id := a.list(20)
	if orders := a.buyers(20, id, 1); len(orders) != 20 {
		t.Fatalf("%d orders", len(orders))
	}
	// Every reservation is in the broker once the outbox is empty: none of them is projected without consumers.
	rdb := schematest.Redis(t)
	a.waitFor("the reservations published", 30*time.Second, func() bool {
		n, _, err := schema.OutboxStats(context.Background(), rdb, id)
		return err == nil && n == 0
	})
	if n := a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ?`, id); n != 0 {
		t.Fatalf("%d orders projected without consumers", n)
	}
	env := maps.Clone(a.env)
	env["SECKILL_HTTP_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"consume"}, envOf(env), io.Discard, io.Discard) }()
	a.drained(id, 20, 60*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("consume: %v", err)
	}
}
