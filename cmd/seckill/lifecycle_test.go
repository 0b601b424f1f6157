package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

func (a *app) pay(orderNo string) int {
	return a.as(a.owner(orderNo), "POST", "/seckill/orders/"+orderNo+"/pay", "").Status
}
func (a *app) cancel(orderNo string) int {
	return a.as(a.owner(orderNo), "POST", "/seckill/orders/"+orderNo+"/cancel", "").Status
}

func (a *app) status(orderNo string) int64 {
	return a.count(`SELECT status FROM tb_seckill_order WHERE order_no = ?`, orderNo)
}

func (a *app) orderIn(orderNo string, status int64, timeout time.Duration) {
	a.t.Helper()
	a.waitFor(fmt.Sprintf("order %s with status %d", orderNo, status), timeout, func() bool {
		return a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE order_no = ? AND status = ?`, orderNo, status) == 1
	})
}

// TestOrderLifecycle covers pay then timeout (stays paid), timeout then pay (409), cancel then buy again.
func TestOrderLifecycle(t *testing.T) {
	a := startApp(t, map[string]string{"SECKILL_PAYMENT_TIMEOUT": "2s"})
	id := a.list(10)

	t.Run("pay then timeout stays paid", func(t *testing.T) {
		no, st := a.buy(1, id)
		if st != http.StatusOK {
			t.Fatalf("buy: %d", st)
		}
		if got := a.pay(no); got != http.StatusOK {
			t.Fatalf("pay: %d", got)
		}
		a.orderIn(no, schema.StatePaid, 20*time.Second)
		// The payment deadline fires (after 2s) and the settle script refuses to cancel the paid order.
		a.waitFor("the payment deadline of the paid order", 60*time.Second, func() bool {
			return a.metric(`seckill_payment_timeouts_total{outcome="not_awaiting_payment"}`) == 1
		})
		if v := a.metric(`seckill_payment_timeouts_total{outcome="settled"}`); v != 0 {
			t.Fatalf("%v orders cancelled by their deadline, want none", v)
		}
		if a.status(no) != schema.StatePaid {
			t.Fatalf("status %d after the timeout, want paid", a.status(no))
		}
		if got := a.pay(no); got != http.StatusConflict {
			t.Fatalf("paying twice: %d, want 409", got)
		}
		if got := a.cancel(no); got != http.StatusConflict {
			t.Fatalf("cancelling a paid order: %d, want 409", got)
		}
		r := a.as(1, "GET", fmt.Sprintf("/seckill/result?productId=%d", id), "")
		if !strings.Contains(string(r.Data), "PAID") {
			t.Fatalf("result %s, want PAID", r.Data)
		}
	})
	t.Run("timeout then pay is 409", func(t *testing.T) {
		no, _ := a.buy(2, id)
		a.orderIn(no, schema.StateCancelled, 30*time.Second)
		if got := a.pay(no); got != http.StatusConflict {
			t.Fatalf("pay after timeout: %d, want 409", got)
		}
		r := a.as(2, "GET", fmt.Sprintf("/seckill/result?productId=%d", id), "")
		if !strings.Contains(string(r.Data), "CANCELLED") {
			t.Fatalf("result %s, want CANCELLED", r.Data)
		}
		if n := a.count(`SELECT COUNT(*) FROM tb_stock_log WHERE order_no = ? AND type = 2`, no); n != 1 {
			t.Fatalf("%d rollback logs, want 1", n)
		}
	})
	t.Run("cancel then buy again", func(t *testing.T) {
		no, _ := a.buy(3, id)
		if got := a.cancel(no); got != http.StatusOK {
			t.Fatalf("cancel: %d", got)
		}
		if got := a.cancel(no); got != http.StatusConflict {
			t.Fatalf("cancel twice: %d, want 409", got)
		}
		again, st := a.buy(3, id)
		if st != http.StatusOK || again == no {
			t.Fatalf("buy again: %d %s", st, again)
		}
		if got := a.pay(again); got != http.StatusOK {
			t.Fatalf("pay the new order: %d", got)
		}
		a.orderIn(no, schema.StateCancelled, 20*time.Second)
		a.orderIn(again, schema.StatePaid, 20*time.Second)
	})
	if got := a.pay("SK1-99999999"); got != http.StatusNotFound {
		t.Fatalf("pay unknown order: %d, want 404", got)
	}
	if got := a.pay("nonsense"); got != http.StatusNotFound {
		t.Fatalf("pay malformed order: %d, want 404", got)
	}
	// 3 orders settled or open: 1 paid, 1 cancelled by timeout, 1 cancelled by the buyer, 1 paid.
	a.drained(id, 4, 30*time.Second)
	for _, reason := range []string{"user", "payment_timeout"} {
		if v := a.metric(fmt.Sprintf(`seckill_orders_cancelled_total{reason=%q}`, reason)); v < 1 {
			t.Errorf("seckill_orders_cancelled_total{reason=%q} = %v, want ≥ 1", reason, v)
		}
	}
}

// TestPayAndCancelRacing: 100 concurrent pay/cancel pairs on 100 orders each end in exactly one state, and the
// stock is conserved.
func TestPayAndCancelRacing(t *testing.T) {
	a := startApp(t, nil)
	id := a.list(100)
	orders := a.buyers(100, id, 1)
	if len(orders) != 100 {
		t.Fatalf("%d orders", len(orders))
	}
	var mu sync.Mutex
	wins := map[string][]string{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, no := range orders {
		for _, op := range []string{"pay", "cancel"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if a.as(a.owner(no), "POST", "/seckill/orders/"+no+"/"+op, "").Status == http.StatusOK {
					mu.Lock()
					wins[no] = append(wins[no], op)
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	var paid, cancelled int64
	for _, no := range orders {
		if len(wins[no]) != 1 {
			t.Fatalf("order %s: winners %v, want exactly one", no, wins[no])
		}
		if wins[no][0] == "pay" {
			paid++
		} else {
			cancelled++
		}
	}
	a.waitFor("every order settled in MySQL", 60*time.Second, func() bool {
		return a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status <> 0`, id) == 100
	})
	if got := a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status = 1`, id); got != paid {
		t.Fatalf("%d paid in MySQL, %d pay wins", got, paid)
	}
	rep := a.drained(id, 100, 30*time.Second)
	if stock := a.count(`SELECT stock FROM tb_seckill_product WHERE id = ?`, id); stock != cancelled {
		t.Fatalf("mysql stock %d, want the %d cancelled units back (report %s)", stock, cancelled, rep)
	}
}

// TestSaleWithThirtyPercentTimeouts: a 2-second payment timeout, 70 % of buyers pay; at the end every invariant
// holds and Redis and MySQL stock are equal.
func TestSaleWithThirtyPercentTimeouts(t *testing.T) {
	a := startApp(t, map[string]string{"SECKILL_PAYMENT_TIMEOUT": "2s"})
	id := a.list(200)
	orders := a.buyers(200, id, 1)
	if len(orders) != 200 {
		t.Fatalf("%d orders", len(orders))
	}
	var wg sync.WaitGroup
	for i, no := range orders {
		if i%10 < 3 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st := a.pay(no); st != http.StatusOK && st != http.StatusConflict {
				t.Errorf("pay %s: %d", no, st)
			}
		}()
	}
	wg.Wait()
	a.waitFor("every order settled", 60*time.Second, func() bool {
		return a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status <> 0`, id) == 200
	})
	cancelled := a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status = -1`, id)
	if cancelled < 60 {
		t.Fatalf("%d cancelled, want at least the 60 unpaid", cancelled)
	}
	a.drained(id, 200, 30*time.Second)
	rdb := schematest.Redis(t)
	redisStock, _ := rdb.Get(context.Background(), schema.KeysFor(id).Stock).Int64()
	mysqlStock := a.count(`SELECT stock FROM tb_seckill_product WHERE id = ?`, id)
	if redisStock != mysqlStock || mysqlStock != cancelled {
		t.Fatalf("redis stock %d, mysql stock %d, cancelled %d: want all equal", redisStock, mysqlStock, cancelled)
	}
}
