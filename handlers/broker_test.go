package handlers_test

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/handlers"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// arrival is one delivery of a message to a router handler's subscriber.
type arrival struct {
	topic   string
	retries int // handlers.MetadataRetries (0 when absent)
	at      time.Time
}

// spySubscriber records every message its Subscriber delivers before handing it on, unchanged, to the router.
type spySubscriber struct {
	message.Subscriber
	seen func(topic string, msg *message.Message)
}

func (s spySubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := s.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		for msg := range in {
			s.seen(topic, msg)
			select {
			case out <- msg:
			case <-ctx.Done():
				msg.Nack()
				return
			}
		}
	}()
	return out, nil
}

// brokerHarness is the consumer router as `seckill serve` runs it: RocketMQ subscribers and publisher on
// test-private topics of the shared broker (real timer messages for the retry and payment-deadline delays), a
// fresh MySQL database, and the real settle script on a database of the shared Redis that no relay walks.
type brokerHarness struct {
	db    *sql.DB
	rdb   *redis.Client
	pub   *rocketmqpubsub.Publisher
	store *failingStore
	reg   *prometheus.Registry
	cfg   handlers.Config

	mu       sync.Mutex
	arrivals map[string][]arrival // message uuid -> deliveries, in order
}

func startBrokerRouter(t *testing.T, cfg handlers.Config, fail ...string) *brokerHarness {
	t.Helper()
	ns := []string{schematest.Namesrv(t)}
	logger := watermill.NopLogger{}
	prefix := schematest.Topic("t-handlers")
	cfg.Topic, cfg.ConsumerGroup = prefix, prefix+"-consumer"
	cfg.RetryTopic, cfg.DLQTopic, cfg.TimeoutTopic = prefix+"-retry", prefix+"-dlq", prefix+"-timeout"
	h := &brokerHarness{db: schematest.MySQL(t).DB, rdb: schematest.RedisDB(t, schematest.RedisDBHandlers), reg: prometheus.NewRegistry(), cfg: cfg,
		arrivals: map[string][]arrival{}}
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: ns}, logger)
	if err != nil {
		t.Fatal(err)
	}
	h.pub = pub
	store, err := projections.NewStore(h.db)
	if err != nil {
		t.Fatal(err)
	}
	h.store = &failingStore{Recorder: store, fail: map[string]bool{}}
	for _, id := range fail {
		h.store.fail[id] = true
	}
	r, err := handlers.NewRouter(cfg, handlers.Deps{
		Subscriber: func(topic, group string) (message.Subscriber, error) {
			sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: ns,
				BrokerAddr: schematest.Broker(), ConsumerGroup: group}, logger)
			return spySubscriber{Subscriber: sub, seen: h.record}, err
		},
		Publisher: pub, Store: h.store, DB: h.db, Registerer: h.reg,
		Settler: sale.Expiry{RDB: h.rdb, Publisher: pub, Topic: cfg.Topic},
	}, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Running():
	case err := <-done:
		t.Fatalf("router stopped before running: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		_ = h.pub.Close()
	})
	return h
}

func (h *brokerHarness) record(topic string, msg *message.Message) {
	n, _ := strconv.Atoi(msg.Metadata.Get(handlers.MetadataRetries))
	h.mu.Lock()
	defer h.mu.Unlock()
	h.arrivals[msg.UUID] = append(h.arrivals[msg.UUID], arrival{topic: topic, retries: n, at: time.Now()})
}

// firstArrivals returns the first delivery of the message with each retry count.
func (h *brokerHarness) firstArrivals(uuid string) map[int]arrival {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := map[int]arrival{}
	for _, a := range h.arrivals[uuid] {
		if _, ok := first[a.retries]; !ok {
			first[a.retries] = a
		}
	}
	return first
}

// reached reports whether the message was delivered from topic.
func (h *brokerHarness) reached(uuid, topic string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.arrivals[uuid] {
		if a.topic == topic {
			return true
		}
	}
	return false
}

func (h *brokerHarness) publish(t *testing.T, es ...events.Event) {
	t.Helper()
	for _, e := range es {
		msg, err := eventmsg.ToMessage(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.pub.Publish(h.cfg.Topic, msg); err != nil {
			t.Fatal(err)
		}
	}
}

// listed publishes a listing and waits until it is projected: the broker keeps no order across its queues, and a
// reservation of a product MySQL does not know yet is rejected.
func (h *brokerHarness) listed(t *testing.T, l *events.ProductListed) {
	t.Helper()
	h.publish(t, l)
	eventually(t, 30*time.Second, "the listing", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_product WHERE id = ?`, l.ProductID) == 1
	})
}

// TestPoisonEventGoesThroughEveryBrokerDelayedRetry fails one reservation every time, over the real broker: it is
// delivered once from the event topic and once per entry of the retry schedule from the retry topic (its retry
// count carried in the metadata, each copy held back by the broker for that entry's delay), then parked in tb_dlq
// with that count, while the healthy reservations are projected meanwhile.
func TestPoisonEventGoesThroughEveryBrokerDelayedRetry(t *testing.T) {
	schedule := []time.Duration{time.Second, 2 * time.Second, 2 * time.Second}
	sale := projectionstest.NewSale(21, 100)
	rs := sale.Reservations(1, 50)
	poison := rs[25]
	h := startBrokerRouter(t, handlers.Config{QuickRetries: -1, RetrySchedule: schedule,
		PaymentTimeout: time.Hour}, poison.ID())
	h.listed(t, sale.Listed)
	h.publish(t, rs...)

	eventually(t, 30*time.Second, "the 49 healthy orders", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_order`) == 49
	})
	if h.reached(poison.ID(), h.cfg.DLQTopic) {
		t.Fatal("the poison event reached the DLQ before the healthy events were projected")
	}
	eventually(t, 90*time.Second, "the poison event parked", func() bool {
		return count(t, h.db, `SELECT COUNT(*) FROM tb_dlq`) == 1
	})
	if n := count(t, h.db, `SELECT COUNT(*) FROM tb_seckill_order`); n != 49 {
		t.Fatalf("%d orders, want the 49 healthy ones", n)
	}
	parked, err := handlers.ListDLQ(context.Background(), h.db)
	if err != nil || len(parked) != 1 {
		t.Fatalf("parked %v, %v", parked, err)
	}
	if p := parked[0]; p.EventID != poison.ID() || p.Retries != len(schedule) ||
		p.Handler != handlers.HandlerProjectRetries || p.OriginalTopic != h.cfg.Topic {
		t.Fatalf("parked %+v, want %s after %d retries from %s", p, poison.ID(), len(schedule), h.cfg.Topic)
	}

	got := h.firstArrivals(poison.ID())
	if len(got) != len(schedule)+1 {
		t.Fatalf("deliveries by retry count %v, want 0..%d", got, len(schedule))
	}
	if got[0].topic != h.cfg.Topic {
		t.Fatalf("first delivery from %s, want %s", got[0].topic, h.cfg.Topic)
	}
	for n := 1; n <= len(schedule); n++ {
		a, ok := got[n]
		if !ok || a.topic != h.cfg.RetryTopic {
			t.Fatalf("retry %d: %+v, want a delivery from %s", n, a, h.cfg.RetryTopic)
		}
		// The previous delivery failed at once (no quick retries) and published this copy delayed by
		// schedule[n-1]; the broker's timer wheel is precise to 100 ms.
		if gap := a.at.Sub(got[n-1].at); gap < schedule[n-1]-200*time.Millisecond || gap > schedule[n-1]+10*time.Second {
			t.Fatalf("retry %d came %s after retry %d, want about %s", n, gap, n-1, schedule[n-1])
		}
	}
	if v := metricValue(t, h.reg, "seckill_handler_retries_total", map[string]string{"handler": handlers.HandlerProject}) +
		metricValue(t, h.reg, "seckill_handler_retries_total", map[string]string{"handler": handlers.HandlerProjectRetries}); v != float64(len(schedule)) {
		t.Fatalf("retries counted %v, want %d", v, len(schedule))
	}
	if v := metricValue(t, h.reg, "seckill_dlq_parked_total", map[string]string{"handler": handlers.HandlerProjectRetries}); v != 1 {
		t.Fatalf("parked counted %v, want 1", v)
	}
}

// TestPaymentDeadlineOverTheBroker: two buyers reserve through the real reserve script and one of them pays
// before the deadline. When the deadlines fire (timer messages, after PaymentTimeout), the real settle script
// refuses to cancel the paid order, which stays paid in Redis and MySQL, and cancels the unpaid one: its unit
// goes back to Redis's stock and the cancellation, published by the settler, is projected into MySQL.
func TestPaymentDeadlineOverTheBroker(t *testing.T) {
	const timeout = 2 * time.Second
	h := startBrokerRouter(t, handlers.Config{PaymentTimeout: timeout})
	ctx := context.Background()
	id := schematest.ProductID(t, h.rdb)
	listing := projectionstest.NewSale(id, 2)
	name, price := listing.Listed.Name, listing.Listed.Price
	if _, err := schema.LoadSale(ctx, h.rdb, schema.Sale{ProductID: id, Name: name, Price: price, Stock: 2, Listed: 2}); err != nil {
		t.Fatal(err)
	}
	h.listed(t, listing.Listed)

	reserve := func(user int64) *events.SeckillReserved {
		eid, now := uuid.NewString(), time.Now()
		r, err := schema.Reserve(ctx, h.rdb, id, user, 1, eid, now)
		if err != nil || r.Outcome != schema.Reserved {
			t.Fatalf("reserve for %d: %+v, %v", user, r, err)
		}
		return schema.ReservedEvent(id, user, 1, eid, now, r, name, price)
	}
	paid, unpaid := reserve(1), reserve(2)
	eid, now := uuid.NewString(), time.Now()
	res, err := schema.Settle(ctx, h.rdb, id, paid.OrderNo, schema.Paid, eid, now)
	if err != nil || res.Outcome != schema.Settled {
		t.Fatalf("pay %s: %+v, %v", paid.OrderNo, res, err)
	}
	start := time.Now()
	h.publish(t, paid, unpaid, schema.SettledEvent(id, paid.OrderNo, schema.Paid, eid, now, res))

	status := func(orderNo string) int {
		var s int
		if err := h.db.QueryRow(`SELECT status FROM tb_seckill_order WHERE order_no = ?`, orderNo).Scan(&s); err != nil {
			return -99
		}
		return s
	}
	eventually(t, 60*time.Second, "both payment deadlines handled", func() bool {
		return metricValue(t, h.reg, "seckill_payment_timeouts_total", map[string]string{"outcome": schema.Settled.String()}) == 1 &&
			metricValue(t, h.reg, "seckill_payment_timeouts_total", map[string]string{"outcome": schema.NotAwaitingPayment.String()}) == 1
	})
	if elapsed := time.Since(start); elapsed < timeout-200*time.Millisecond {
		t.Fatalf("deadlines handled %s after the reservations, before the %s payment timeout", elapsed, timeout)
	}
	eventually(t, 30*time.Second, "the cancellation projected", func() bool {
		return status(unpaid.OrderNo) == schema.StateCancelled && metricValue(t, h.reg, "seckill_orders_cancelled_total",
			map[string]string{"reason": events.ReasonPaymentTimeout}) == 1
	})
	if s := status(paid.OrderNo); s != schema.StatePaid {
		t.Fatalf("paid order %s has status %d in MySQL, want paid", paid.OrderNo, s)
	}
	if stock, err := h.rdb.Get(ctx, schema.KeysFor(id).Stock).Int64(); err != nil || stock != 1 {
		t.Fatalf("redis stock %d (%v), want 1: the unpaid unit returned, the paid one kept", stock, err)
	}
	again, err := schema.Settle(ctx, h.rdb, id, paid.OrderNo, schema.Cancelled(events.ReasonUser), uuid.NewString(), time.Now())
	if err != nil || again.Outcome != schema.NotAwaitingPayment || again.State != schema.StatePaid {
		t.Fatalf("paid order in redis: %+v, %v; want still paid", again, err)
	}
	projectionstest.RequireInvariants(t, h.db, id)
}
