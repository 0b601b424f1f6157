package faults

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

func TestAnswerOutcomes(t *testing.T) {
	for _, c := range []struct {
		name                      string
		a                         Answer
		unknown, nothing, retries bool
	}{
		{"200 reserved", Answer{Op: OpKill, Status: 200}, false, false, false},
		{"410 sold out", Answer{Op: OpKill, Status: 410}, false, true, false},
		{"409 holds an order", Answer{Op: OpKill, Status: 409}, false, true, false},
		{"429 rate limited", Answer{Op: OpKill, Status: 429}, false, true, true},
		{"503 nothing reserved", Answer{Op: OpKill, Status: 503, Message: "redis unavailable: nothing was reserved, try again"}, false, true, true},
		{"503 outcome unknown", Answer{Op: OpKill, Status: 503, Message: "the outcome is unknown: see /seckill/result"}, true, false, false},
		{"reset mid-request", Answer{Op: OpKill, Err: "connection reset by peer"}, true, false, true},
		{"connection refused", Answer{Op: OpKill, Err: "connection refused", Refused: true}, false, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.a.Unknown() != c.unknown || c.a.NothingDone() != c.nothing || c.a.retryable() != c.retries {
				t.Errorf("unknown=%t nothingDone=%t retryable=%t, want %t %t %t", c.a.Unknown(), c.a.NothingDone(),
					c.a.retryable(), c.unknown, c.nothing, c.retries)
			}
		})
	}
}

func TestExpectedStateOfAnAcknowledgedOrder(t *testing.T) {
	const no = "SK1-00000001"
	kill := Answer{Op: OpKill, Status: 200, OrderNo: no}
	cancelled := func(reasons ...string) expectation {
		return expectation{states: []int{schema.StateCancelled}, reasons: reasons}
	}
	for _, c := range []struct {
		name  string
		after []Answer
		want  expectation
	}{
		{"left alone: the payment timeout cancels it", nil, cancelled(events.ReasonPaymentTimeout)},
		{"cancel answered 200", []Answer{{Op: OpCancel, Status: 200, OrderNo: no}}, cancelled(events.ReasonUser)},
		{"pay answered 200", []Answer{{Op: OpPay, Status: 200, OrderNo: no}}, expectation{states: []int{schema.StatePaid}}},
		{"pay retried after 503", []Answer{{Op: OpPay, Status: 503, OrderNo: no}, {Op: OpPay, Status: 200, OrderNo: no}},
			expectation{states: []int{schema.StatePaid}}},
		{"pay without an answer", []Answer{{Op: OpPay, Err: "EOF", OrderNo: no}},
			expectation{states: []int{schema.StatePaid, schema.StateCancelled}, reasons: []string{events.ReasonPaymentTimeout}}},
		{"cancel without an answer", []Answer{{Op: OpCancel, Err: "EOF", OrderNo: no}},
			cancelled(events.ReasonUser, events.ReasonPaymentTimeout)},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &Buyer{UserID: 1, Answers: append([]Answer{kill}, c.after...)}
			if got := expect(b, no); got.String() != c.want.String() {
				t.Errorf("expect %s, want %s", got, c.want)
			}
		})
	}
}

// TestCheckCatchesBrokenPromises: a clean sale passes the checker; each promise broken by hand in the stores
// afterwards makes it fail with the right kind — the suite is only worth its failures.
func TestCheckCatchesBrokenPromises(t *testing.T) {
	if testing.Short() {
		t.Skip("full suite only (make test-faults)")
	}
	s := newSale(t, "checker", 200, false, nil)
	s.run(260, 300)
	s.waitLoad()
	ctx := context.Background()
	c := &Check{Load: s.load, Redis: s.rdb, DB: s.db, Listed: s.stock}
	f, err := c.Run(ctx, "checker", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !f.OK() || f.Acknowledged < 200 {
		t.Fatalf("a clean sale: %s", f)
	}
	var left, refused *Buyer // a buyer who left their order to the payment timeout, one told sold out
	var leftNo string
	for _, b := range s.load.Buyers() {
		for _, a := range b.Answers {
			switch {
			case a.Reserved() && b.Action == "" && left == nil:
				left, leftNo = b, a.OrderNo
			case a.Op == OpKill && a.Status == http.StatusGone && refused == nil:
				refused = b
			}
		}
	}
	if left == nil || refused == nil {
		t.Fatal("the sale has no buyer who left an order alone, or none told sold out")
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	k := schema.KeysFor(s.product)
	rec := s.rdb.HGet(ctx, k.Orders, leftNo).Val()
	phantomNo := fmt.Sprintf("SK%d-99999999", s.product)
	for _, tc := range []struct {
		name        string
		kind        string
		spoil, mend func()
	}{
		{"the system cancels an acknowledged order", Lost,
			func() {
				exec(`UPDATE tb_event SET payload = JSON_SET(payload, '$.reason', 'rejected')
					WHERE aggregate_id = ? AND event_type = 'SeckillOrderCancelled'`, leftNo)
			},
			func() {
				exec(`UPDATE tb_event SET payload = JSON_SET(payload, '$.reason', 'payment_timeout')
					WHERE aggregate_id = ? AND event_type = 'SeckillOrderCancelled'`, leftNo)
			}},
		{"an acknowledged order is missing in MySQL", Lost,
			func() { exec(`UPDATE tb_seckill_order SET order_no = 'gone' WHERE order_no = ?`, leftNo) },
			func() { exec(`UPDATE tb_seckill_order SET order_no = ? WHERE order_no = 'gone'`, leftNo) }},
		{"Redis and MySQL disagree", Disagree,
			func() { s.rdb.HSet(ctx, k.Orders, leftNo, fmt.Sprintf("1|%d|1", left.UserID)) },
			func() { s.rdb.HSet(ctx, k.Orders, leftNo, rec) }},
		{"a buyer told sold out holds an order", Phantom,
			func() { s.rdb.HSet(ctx, k.Orders, phantomNo, fmt.Sprintf("-1|%d|1", refused.UserID)) },
			func() { s.rdb.HDel(ctx, k.Orders, phantomNo) }},
		{"a stock goes negative", Oversold,
			func() { s.rdb.DecrBy(ctx, k.Stock, 1_000) },
			func() { s.rdb.IncrBy(ctx, k.Stock, 1_000) }},
		{"a stock log is missing", Incomplete,
			func() { exec(`UPDATE tb_stock_log SET order_no = 'gone' WHERE order_no = ? AND type = 1`, leftNo) },
			func() { exec(`UPDATE tb_stock_log SET order_no = ? WHERE order_no = 'gone'`, leftNo) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spoil()
			defer tc.mend()
			f, err := c.Run(ctx, "checker", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Violations[tc.kind]) == 0 {
				t.Fatalf("no %s violation: %s", tc.kind, f)
			}
			if tc.kind != Oversold && !slices.ContainsFunc(f.Violations[tc.kind], func(v string) bool {
				return strings.Contains(v, leftNo) || strings.Contains(v, phantomNo)
			}) {
				t.Errorf("the %s violations do not name the order: %v", tc.kind, f.Violations[tc.kind])
			}
		})
	}
	if f, err := c.Run(ctx, "checker", 30*time.Second); err != nil || !f.OK() {
		t.Fatalf("mended: %v %s", err, f)
	}
}
