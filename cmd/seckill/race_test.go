package main

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// TestPayCancelAndPaymentTimeoutRacing fires, for each of 60 orders, the buyer's pay and cancel through the HTTP
// API of a real serve and the payment deadline's cancellation (the consumers' sale.Expiry on the real
// Redis, as the deadline handler calls it) at the same instant. Exactly one of the three wins each order; Redis
// and MySQL end with the winner's state for every order, MySQL records one settling event per order with the
// winner's reason, and the stock of every cancelled order, and only theirs, is back in Redis and MySQL.
func TestPayCancelAndPaymentTimeoutRacing(t *testing.T) {
	const n = 60
	a := startApp(t, nil) // the default 15-minute payment timeout: the only timeout here is the one the test fires
	id := a.list(n)
	orders := a.buyers(n, id, 1)
	if len(orders) != n {
		t.Fatalf("%d orders, want %d", len(orders), n)
	}
	rdb := schematest.Redis(t)
	deadline := sale.Expiry{RDB: rdb}
	var mu sync.Mutex
	wins := map[string][]string{}
	win := func(no, who string) {
		mu.Lock()
		wins[no] = append(wins[no], who)
		mu.Unlock()
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, no := range orders {
		for _, op := range []string{"pay", "cancel"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				switch st := a.as(a.owner(no), "POST", "/seckill/orders/"+no+"/"+op, "").Status; st {
				case http.StatusOK:
					win(no, op)
				case http.StatusConflict:
				default:
					t.Errorf("%s %s: %d, want 200 or 409", op, no, st)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := deadline.CancelOrder(context.Background(), id, no, events.ReasonPaymentTimeout)
			switch {
			case err != nil:
				t.Errorf("payment timeout of %s: %v", no, err)
			case res.Outcome == schema.Settled:
				win(no, "timeout")
			case res.Outcome != schema.NotAwaitingPayment:
				t.Errorf("payment timeout of %s: outcome %v", no, res.Outcome)
			}
		}()
	}
	close(start)
	wg.Wait()

	want := map[string]int{} // order -> the winner's state
	count := map[string]int{}
	for _, no := range orders {
		if len(wins[no]) != 1 {
			t.Fatalf("order %s: winners %v, want exactly one", no, wins[no])
		}
		count[wins[no][0]]++
		want[no] = schema.StateCancelled
		if wins[no][0] == "pay" {
			want[no] = schema.StatePaid
		}
	}
	t.Logf("winners: %v", count)

	a.waitFor("every order settled in MySQL", 60*time.Second, func() bool {
		return a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status <> 0`, id) == n
	})
	a.drained(id, n, 30*time.Second) // every invariant of CONTRACT.md, Redis included
	state, err := schema.ReadSaleState(context.Background(), rdb, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range state.Orders {
		if o.State != want[o.OrderNo] {
			t.Errorf("order %s: state %d in Redis, want %d (%v)", o.OrderNo, o.State, want[o.OrderNo], wins[o.OrderNo])
		}
	}
	for _, no := range orders {
		if got := a.status(no); got != int64(want[no]) {
			t.Errorf("order %s: status %d in MySQL, want %d (%v)", no, got, want[no], wins[no])
		}
	}
	cancelled := int64(count["cancel"] + count["timeout"])
	for reason, want := range map[string]int{events.ReasonUser: count["cancel"], events.ReasonPaymentTimeout: count["timeout"]} {
		got := a.count(`SELECT COUNT(*) FROM tb_event WHERE event_type = ? AND JSON_VALUE(payload, '$.reason') = ?`,
			events.TypeSeckillOrderCancelled, reason)
		if got != int64(want) {
			t.Errorf("%d cancellations with reason %s in tb_event, want %d", got, reason, want)
		}
	}
	if got := a.count(`SELECT COUNT(*) FROM tb_event WHERE event_type = ?`, events.TypeSeckillOrderPaid); got != int64(count["pay"]) {
		t.Errorf("%d payments in tb_event, want %d", got, count["pay"])
	}
	mysqlStock := a.count(`SELECT stock FROM tb_seckill_product WHERE id = ?`, id)
	if state.Stock != cancelled || mysqlStock != cancelled {
		t.Fatalf("stock %d in Redis, %d in MySQL, want the %d cancelled units back", state.Stock, mysqlStock, cancelled)
	}
}
