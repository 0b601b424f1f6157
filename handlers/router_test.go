package handlers_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/handlers"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// fakeSettler records the cancellations asked of it. It does not check that the order exists or awaits payment.
type fakeSettler struct {
	mu    sync.Mutex
	calls map[string][]string // order -> reasons
}

func (f *fakeSettler) CancelOrder(_ context.Context, _ int64, orderNo, reason string) (schema.SettleResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string][]string{}
	}
	f.calls[orderNo] = append(f.calls[orderNo], reason)
	return schema.SettleResult{Outcome: schema.Settled}, nil
}

func (f *fakeSettler) reasons(orderNo string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls[orderNo]...)
}

// failingStore fails every event whose id is in fail, until healed; it records the rest through the real Store.
type failingStore struct {
	handlers.Recorder
	mu   sync.Mutex
	fail map[string]bool
}

func (f *failingStore) Record(ctx context.Context, e events.Event) (projections.Outcome, error) {
	f.mu.Lock()
	failing := f.fail[e.ID()]
	f.mu.Unlock()
	if failing {
		return 0, fmt.Errorf("test fault for event %s", e.ID())
	}
	return f.Recorder.Record(ctx, e)
}

func (f *failingStore) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = nil
}

type harness struct {
	db      *sql.DB
	pubsub  *gochannel.GoChannel
	settler *fakeSettler
	store   *failingStore
	reg     *prometheus.Registry
	cfg     handlers.Config
}

// startRouter runs a router over an in-process gochannel Pub/Sub (no consumer groups, delays ignored) and a
// fresh MySQL database, and stops it when the test ends.
func startRouter(t *testing.T, cfg handlers.Config, fail ...string) *harness {
	t.Helper()
	logger := watermill.NopLogger{}
	h := &harness{db: schematest.MySQL(t).DB, settler: &fakeSettler{}, reg: prometheus.NewRegistry(), cfg: cfg,
		pubsub: gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1024, Persistent: true}, logger)}
	store, err := projections.NewStore(h.db)
	if err != nil {
		t.Fatal(err)
	}
	h.store = &failingStore{Recorder: store, fail: map[string]bool{}}
	for _, id := range fail {
		h.store.fail[id] = true
	}
	r, err := handlers.NewRouter(cfg, handlers.Deps{
		Subscriber: func(string, string) (message.Subscriber, error) { return h.pubsub, nil },
		Publisher:  h.pubsub, Store: h.store, Settler: h.settler, DB: h.db, Registerer: h.reg,
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Running()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		_ = h.pubsub.Close()
	})
	return h
}

func (h *harness) publish(t *testing.T, es ...events.Event) {
	t.Helper()
	for _, e := range es {
		msg, err := eventmsg.ToMessage(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.pubsub.Publish("seckill-topic", msg); err != nil {
			t.Fatal(err)
		}
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestRouterProjectsEveryEventOnce(t *testing.T) {
	h := startRouter(t, handlers.Config{})
	sale := projectionstest.NewSale(11, 2000)
	rs := sale.Reservations(1, 1000)
	h.publish(t, sale.Listed)
	eventually(t, 10*time.Second, "the listing", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_product`) == 1
	})
	first := rs[0].(*events.SeckillReserved)
	all := append(rs, sale.Pay(first), sale.Cancel(rs[1].(*events.SeckillReserved), events.ReasonUser))
	h.publish(t, all...)
	eventually(t, 60*time.Second, "1,000 orders", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_order WHERE status <> 0`) == 2 &&
			count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_order`) == 1000
	})
	projectionstest.RequireInvariants(t, h.db, 11)
	sums := projectionstest.Checksums(t, h.db)

	h.publish(t, all...)
	eventually(t, 60*time.Second, "every redelivery", func() bool {
		return metricValue(t, h.reg, "seckill_events_recorded_total",
			map[string]string{"type": events.TypeSeckillReserved, "outcome": "duplicate"}) == 1000
	})
	if again := projectionstest.Checksums(t, h.db); fmt.Sprint(again) != fmt.Sprint(sums) {
		t.Fatalf("redelivery changed the tables:\n%v\n%v", sums, again)
	}
	// gochannel ignores delays: every payment deadline fires at once and reaches the settler, which only records
	// the request (this checks the routing, not the outcome: the real settle script over real delays is
	// TestPaymentDeadlineOverTheBroker).
	eventually(t, 10*time.Second, "payment deadlines", func() bool {
		return len(h.settler.reasons(rs[999].(*events.SeckillReserved).OrderNo)) >= 1
	})
	if got := h.settler.reasons(first.OrderNo); len(got) == 0 || got[0] != events.ReasonPaymentTimeout {
		t.Fatalf("cancellations of %s: %v, want payment_timeout", first.OrderNo, got)
	}
	if metricValue(t, h.reg, "seckill_orders_cancelled_total", map[string]string{"reason": events.ReasonUser}) != 1 {
		t.Fatal("seckill_orders_cancelled_total{reason=user} != 1")
	}
}

// TestNoFactIsCompensated: the last unit, cancelled by one buyer and reserved by another, reaches the consumers
// as new reservation first, then the old one, then the cancellation (through the retry topic, say): every order is
// projected and no order is cancelled but by its payment deadline. A reservation of a product MySQL does not
// know is rejected and counted, and nothing compensates it either.
func TestNoFactIsCompensated(t *testing.T) {
	h := startRouter(t, handlers.Config{})
	sale := projectionstest.NewSale(12, 1)
	first := sale.Reserve(1)
	freed := sale.Cancel(first, events.ReasonUser)
	reused := sale.Reserve(2)
	lost := projectionstest.NewSale(112, 1).Reserve(3)
	h.publish(t, sale.Listed)
	eventually(t, 10*time.Second, "the listing", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_product`) == 1
	})
	h.publish(t, reused, first, lost, freed)
	eventually(t, 10*time.Second, "every event", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_event`) == 5
	})
	projectionstest.RequireInvariants(t, h.db, 12)
	if n := count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_order WHERE status = 0 AND order_no = ?`, reused.OrderNo); n != 1 {
		t.Fatal("the reservation of the freed unit is not an order awaiting payment")
	}
	if metricValue(t, h.reg, "seckill_events_recorded_total",
		map[string]string{"type": events.TypeSeckillReserved, "outcome": "rejected"}) != 1 {
		t.Fatal("the reservation of an unknown product is not counted as rejected")
	}
	eventually(t, 10*time.Second, "payment deadlines", func() bool {
		return len(h.settler.reasons(reused.OrderNo)) >= 1
	})
	for _, no := range []string{first.OrderNo, reused.OrderNo, lost.OrderNo} {
		for _, reason := range h.settler.reasons(no) {
			if reason != events.ReasonPaymentTimeout {
				t.Fatalf("order %s cancelled for %s", no, reason)
			}
		}
	}
	if got := h.settler.reasons(lost.OrderNo); len(got) != 0 {
		t.Fatalf("the rejected order %s got cancellations %v", lost.OrderNo, got)
	}
}

func TestUnknownTypeIsAcknowledged(t *testing.T) {
	h := startRouter(t, handlers.Config{})
	msg := message.NewMessage("4b1f7a0e-0000-4000-8000-000000000001", []byte(`{}`))
	msg.Metadata.Set(eventmsg.MetadataType, "SeckillTeleported")
	if err := h.pubsub.Publish("seckill-topic", msg); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the unknown message counted", func() bool {
		return metricValue(t, h.reg, "seckill_events_unknown_total", nil) == 1
	})
	if n := count(t, h.db, `SELECT COUNT(*) FROM tb_dlq`); n != 0 {
		t.Fatalf("%d parked, want none", n)
	}
}

// TestPoisonEventIsParkedThenRedrivenInProcess fails one event every time, over gochannel, which ignores delays:
// it is requeued once per entry of the schedule without waiting, while the healthy events flow, then parked in
// tb_dlq, listed, and applied once redriven after its cause is gone. That the broker holds each retry back for
// its delay is TestPoisonEventGoesThroughEveryBrokerDelayedRetry's claim.
func TestPoisonEventIsParkedThenRedrivenInProcess(t *testing.T) {
	sale := projectionstest.NewSale(13, 500)
	rs := sale.Reservations(1, 200)
	poison := rs[50]
	schedule := make([]time.Duration, 16)
	for i := range schedule {
		schedule[i] = time.Millisecond
	}
	h := startRouter(t, handlers.Config{QuickRetries: 1, RetrySchedule: schedule}, poison.ID())
	h.publish(t, sale.Listed)
	eventually(t, 10*time.Second, "the listing", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_product`) == 1
	})
	h.publish(t, rs...)
	eventually(t, 30*time.Second, "the poison event parked", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_dlq`) == 1
	})
	// Parking does not wait for the healthy events still on their way (the router handles them concurrently).
	eventually(t, 30*time.Second, "the 199 healthy orders", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_order`) == 199
	})
	parked, err := handlers.ListDLQ(context.Background(), h.db)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 1 {
		t.Fatalf("parked %v", parked)
	}
	p := parked[0]
	if p.EventID != poison.ID() || p.EventType != events.TypeSeckillReserved || p.Retries != 16 ||
		p.Handler != handlers.HandlerProjectRetries || p.OriginalTopic != "seckill-topic" || p.Reason == "" ||
		time.Since(p.ParkedAt) > time.Minute {
		t.Fatalf("parked %+v", p)
	}
	if metricValue(t, h.reg, "seckill_handler_retries_total", map[string]string{"handler": handlers.HandlerProject}) < 1 {
		t.Fatal("no retry counted for project_events")
	}

	h.store.heal()
	n, err := handlers.Redrive(context.Background(), h.db, h.pubsub)
	if err != nil || n != 1 {
		t.Fatalf("redrive = %d, %v; want 1", n, err)
	}
	if n, err := handlers.Redrive(context.Background(), h.db, h.pubsub); err != nil || n != 0 {
		t.Fatalf("second redrive = %d, %v; want 0", n, err)
	}
	eventually(t, 10*time.Second, "the redriven event applied", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_order`) == 200
	})
	if parked, err := handlers.ListDLQ(context.Background(), h.db); err != nil || len(parked) != 0 {
		t.Fatalf("still parked after redrive: %v, %v", parked, err)
	}
	projectionstest.RequireInvariants(t, h.db, 13)
}

// metricValue is the value of the counter or gauge series of name whose labels include labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}
