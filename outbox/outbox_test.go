package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/outbox"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// rig is one product loaded in the real Redis, a test-private topic on the real broker and a publisher to it.
type rig struct {
	t       *testing.T
	rdb     *redis.Client
	id      int64
	namesrv string
	topic   string
	pub     *rocketmqpubsub.Publisher
}

func newRig(t *testing.T, stock int64) *rig {
	t.Helper()
	r := &rig{t: t, rdb: schematest.RedisDB(t, schematest.RedisDBOutbox), namesrv: schematest.Namesrv(t),
		topic: schematest.Topic("outbox")}
	r.id = schematest.ProductID(t, r.rdb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rocketmqpubsub.EnsureTopic(ctx, []string{r.namesrv}, schematest.Broker(), r.topic, 4); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	r.pub = r.newPublisher()
	if _, err := schema.LoadSale(ctx, r.rdb, schema.Sale{ProductID: r.id, Name: "Phone", Price: 1000, Stock: stock,
		Listed: stock}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) newPublisher() *rocketmqpubsub.Publisher {
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: []string{r.namesrv}}, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = pub.Close() })
	return pub
}

// outbox returns an Outbox on the rig's topic with its own metrics registry; the relay's MinAge is 1ms unless
// cfg says otherwise.
func (r *rig) outbox(cfg outbox.Config, rdb redis.UniversalClient, pub message.Publisher) (*outbox.Outbox, *prometheus.Registry) {
	r.t.Helper()
	cfg.Topic = r.topic
	if cfg.MinAge == 0 {
		cfg.MinAge = time.Millisecond
	}
	reg := prometheus.NewRegistry()
	o, err := outbox.New(cfg, rdb, pub, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = o.Close() })
	return o, reg
}

// reservation is one reservation made by the real reserve script: its outbox entry and its event.
type reservation struct {
	streamID string
	event    events.Event
}

// reserve makes n reservations (buyers from..from+n-1); their events wait in the outbox.
func (r *rig) reserve(from, n int64) []reservation {
	r.t.Helper()
	out := make([]reservation, 0, n)
	for u := from; u < from+n; u++ {
		id, now := uuid.NewString(), time.Now()
		res, err := schema.Reserve(context.Background(), r.rdb, r.id, u, 1, id, now)
		if err != nil || res.Outcome != schema.Reserved {
			r.t.Fatalf("reserve for user %d: %v %v", u, res.Outcome, err)
		}
		out = append(out, reservation{res.OutboxID, schema.ReservedEvent(r.id, u, 1, id, now, res, "Phone", 1000)})
	}
	return out
}

func (r *rig) depth() int64 {
	r.t.Helper()
	n, _, err := schema.OutboxStats(context.Background(), r.rdb, r.id)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// relayUntilEmpty runs relay passes until the product's outbox is empty (entries become old enough by the
// Redis clock within milliseconds).
func (r *rig) relayUntilEmpty(o *outbox.Outbox) {
	r.t.Helper()
	waitFor(r.t, "an empty outbox after relay passes", func() bool {
		if err := o.RelayOnce(context.Background()); err != nil {
			r.t.Fatalf("relay: %v", err)
		}
		return r.depth() == 0
	})
}

// received consumes the topic with a fresh consumer group until want distinct events have arrived, lingers a
// second for duplicates, and returns how often each event id arrived.
func (r *rig) received(want int) map[string]int {
	r.t.Helper()
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: []string{r.namesrv},
		ConsumerGroup: "test-" + schematest.RandomSuffix()}, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, r.topic)
	if err != nil {
		r.t.Fatal(err)
	}
	got := map[string]int{}
	var linger <-chan time.Time
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				r.t.Fatalf("%d of %d events reached the broker within 60s", len(got), want)
			}
			got[m.UUID]++
			m.Ack()
			if len(got) == want && linger == nil {
				linger = time.After(time.Second)
			}
		case <-linger:
			return got
		}
	}
}

func (r *rig) wantDelivered(rs []reservation, times int) {
	r.t.Helper()
	got := r.received(len(rs))
	for _, x := range rs {
		if got[x.event.ID()] != times {
			r.t.Fatalf("event %s reached the broker %d times, want %d", x.event.ID(), got[x.event.ID()], times)
		}
	}
	if len(got) != len(rs) {
		r.t.Fatalf("%d distinct events reached the broker, want %d", len(got), len(rs))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric returns the value of a counter or gauge of reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// gatedPublisher passes every Publish to the real broker publisher once the test opens the gate; entered gets a
// value when a Publish call reaches the gate.
type gatedPublisher struct {
	message.Publisher
	entered chan struct{}
	gate    chan struct{}
}

func newGated(pub message.Publisher) *gatedPublisher {
	return &gatedPublisher{Publisher: pub, entered: make(chan struct{}, 64), gate: make(chan struct{})}
}

func (g *gatedPublisher) Publish(topic string, msgs ...*message.Message) error {
	g.entered <- struct{}{}
	<-g.gate
	return g.Publisher.Publish(topic, msgs...)
}

// switchedPublisher publishes through whichever real publisher it currently holds.
type switchedPublisher struct {
	cur atomic.Pointer[rocketmqpubsub.Publisher]
}

func (s *switchedPublisher) Publish(topic string, msgs ...*message.Message) error {
	return s.cur.Load().Publish(topic, msgs...)
}
func (s *switchedPublisher) Close() error { return nil }

// TestFastPathDeliversAndRemovesTheEntries: what Deliver accepts reaches the broker once and leaves the outbox,
// without any relay pass.
func TestFastPathDeliversAndRemovesTheEntries(t *testing.T) {
	r := newRig(t, 10)
	o, reg := r.outbox(outbox.Config{}, r.rdb, r.pub)
	rs := r.reserve(1, 5)
	for _, x := range rs {
		if !o.Deliver(context.Background(), r.id, x.streamID, x.event) {
			t.Fatal("Deliver left an event to the relay with nothing failing")
		}
	}
	waitFor(t, "empty outbox", func() bool { return r.depth() == 0 })
	r.wantDelivered(rs, 1)
	if got := metric(t, reg, "seckill_outbox_published_total"); got != 5 {
		t.Fatalf("published_total %v, want 5", got)
	}
}

// countingPublisher counts the Publish calls it passes to the real broker publisher.
type countingPublisher struct {
	message.Publisher
	calls atomic.Int64
}

func (c *countingPublisher) Publish(topic string, msgs ...*message.Message) error {
	c.calls.Add(1)
	return c.Publisher.Publish(topic, msgs...)
}

// TestEventsWithinTheLingerShareAPublish: events that reach the fast path within Linger of the first go to the
// broker in one call, each once.
func TestEventsWithinTheLingerShareAPublish(t *testing.T) {
	r := newRig(t, 10)
	counting := &countingPublisher{Publisher: r.pub}
	o, _ := r.outbox(outbox.Config{Linger: 300 * time.Millisecond}, r.rdb, counting)
	rs := r.reserve(1, 5)
	for _, x := range rs {
		if !o.Deliver(context.Background(), r.id, x.streamID, x.event) {
			t.Fatal("Deliver refused")
		}
		time.Sleep(10 * time.Millisecond) // spaced out, as at a moderate rate
	}
	waitFor(t, "empty outbox", func() bool { return r.depth() == 0 })
	r.wantDelivered(rs, 1)
	if n := counting.calls.Load(); n != 1 {
		t.Fatalf("%d publish calls for 5 events within the linger, want 1", n)
	}
}

// TestCloseDoesNotWaitOutTheLinger: closing the outbox publishes what waits for its linger at once.
func TestCloseDoesNotWaitOutTheLinger(t *testing.T) {
	r := newRig(t, 10)
	o, _ := r.outbox(outbox.Config{Linger: time.Minute}, r.rdb, r.pub)
	rs := r.reserve(1, 1)
	if !o.Deliver(context.Background(), r.id, rs[0].streamID, rs[0].event) {
		t.Fatal("Deliver refused")
	}
	start := time.Now()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Close took %s with a one-minute linger", took)
	}
	r.wantDelivered(rs, 1)
	if d := r.depth(); d != 0 {
		t.Fatalf("outbox depth %d after Close, want 0", d)
	}
}

// TestOneBatchOfTwoProductsLeavesBothOutboxes: the fast path removes a batch's entries with one XDEL per
// product; entries of two products queued behind a slow publish go out in one batch, and both outboxes empty.
func TestOneBatchOfTwoProductsLeavesBothOutboxes(t *testing.T) {
	a, b := newRig(t, 10), newRig(t, 10)
	gated := newGated(a.pub)
	o, _ := a.outbox(outbox.Config{}, a.rdb, gated)
	ra, rb := a.reserve(1, 4), b.reserve(1, 4)
	ctx := context.Background()
	if !o.Deliver(ctx, a.id, ra[0].streamID, ra[0].event) {
		t.Fatal("Deliver refused")
	}
	<-gated.entered // the first batch is publishing; the next ones queue behind it
	for i := 1; i < 4; i++ {
		if !o.Deliver(ctx, a.id, ra[i].streamID, ra[i].event) || !o.Deliver(ctx, b.id, rb[i].streamID, rb[i].event) {
			t.Fatal("Deliver refused")
		}
	}
	if !o.Deliver(ctx, b.id, rb[0].streamID, rb[0].event) {
		t.Fatal("Deliver refused")
	}
	close(gated.gate)
	waitFor(t, "both outboxes empty", func() bool { return a.depth() == 0 && b.depth() == 0 })
	a.wantDelivered(append(ra, rb...), 1)
}

// TestRelayParksAnUndecodableEntryAndGoesOn: an entry that cannot become an event no longer stalls its product:
// it moves to the dead-letter stream with the reason (counted, never dropped) and the entries around it are
// delivered.
func TestRelayParksAnUndecodableEntryAndGoesOn(t *testing.T) {
	r := newRig(t, 10)
	o, reg := r.outbox(outbox.Config{}, r.rdb, r.pub)
	ctx := context.Background()
	before := r.reserve(1, 2)
	bad, err := r.rdb.XAdd(ctx, &redis.XAddArgs{Stream: schema.KeysFor(r.id).Outbox,
		Values: map[string]any{"type": "SeckillTeleported", "id": "x"}}).Result()
	if err != nil {
		t.Fatal(err)
	}
	after := r.reserve(3, 2)
	r.relayUntilEmpty(o)
	dead, err := r.rdb.XRange(ctx, schema.OutboxDeadKey(r.id), "-", "+").Result()
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead-letter stream holds %d entries (%v), want the bad one", len(dead), err)
	}
	v := dead[0].Values
	if v["stream_id"] != bad || v["type"] != "SeckillTeleported" || !strings.Contains(fmt.Sprint(v["reason"]), "bad outbox entry") {
		t.Fatalf("parked entry %v, want the original fields, its stream id %s and the reason", v, bad)
	}
	if got := metric(t, reg, "seckill_outbox_parked_total"); got != 1 {
		t.Fatalf("parked_total %v, want 1", got)
	}
	r.wantDelivered(append(before, after...), 1)
}

// TestRelayPagesPastItsBatch: more entries than one batch (256) are all relayed in one pass.
func TestRelayPagesPastItsBatch(t *testing.T) {
	r := newRig(t, 600)
	o, reg := r.outbox(outbox.Config{}, r.rdb, r.pub)
	rs := r.reserve(1, 600)
	waitFor(t, "entries older than MinAge by the Redis clock", func() bool {
		now, err := schema.RedisTime(context.Background(), r.rdb)
		return err == nil && (schema.OutboxEntry{StreamID: rs[len(rs)-1].streamID}).Age(now) > 5*time.Millisecond
	})
	if err := o.RelayOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.depth(); n != 0 {
		t.Fatalf("%d entries left after one pass, want 0", n)
	}
	if got := metric(t, reg, "seckill_outbox_relayed_total"); got != 600 {
		t.Fatalf("relayed_total %v, want 600", got)
	}
	r.wantDelivered(rs, 1)
}

// TestFullQueueLeavesEventsToTheRelay: while the fast path is busy and its queue full, Deliver says no at once
// (counted), and the relay delivers what it refused.
func TestFullQueueLeavesEventsToTheRelay(t *testing.T) {
	r := newRig(t, 10)
	g := newGated(r.pub)
	o, reg := r.outbox(outbox.Config{QueueSize: 1}, r.rdb, g)
	rs := r.reserve(1, 3)
	ctx := context.Background()
	if !o.Deliver(ctx, r.id, rs[0].streamID, rs[0].event) {
		t.Fatal("first Deliver refused")
	}
	<-g.entered // the fast path holds the first event at the gate
	if !o.Deliver(ctx, r.id, rs[1].streamID, rs[1].event) {
		t.Fatal("second Deliver refused with room in the queue")
	}
	if o.Deliver(ctx, r.id, rs[2].streamID, rs[2].event) {
		t.Fatal("third Deliver accepted with the queue full")
	}
	if got := metric(t, reg, "seckill_outbox_fast_path_skipped_total"); got != 1 {
		t.Fatalf("fast_path_skipped_total %v, want 1", got)
	}
	close(g.gate)
	waitFor(t, "the fast path's two events removed", func() bool { return r.depth() == 1 })
	r.relayUntilEmpty(o)
	r.wantDelivered(rs, 1)
}

// TestFailedPublishPausesTheFastPath: after a failed publish the fast path leaves events to the relay (the
// events stay in the outbox) until Backoff has passed or a relay pass has published again.
func TestFailedPublishPausesTheFastPath(t *testing.T) {
	r := newRig(t, 10)
	closed := r.newPublisher()
	_ = closed.Close() // a real publisher that fails every publish
	var sw switchedPublisher
	sw.cur.Store(closed)
	o, reg := r.outbox(outbox.Config{Backoff: time.Hour}, r.rdb, &sw)
	rs := r.reserve(1, 3)
	ctx := context.Background()
	if !o.Deliver(ctx, r.id, rs[0].streamID, rs[0].event) {
		t.Fatal("first Deliver refused")
	}
	waitFor(t, "a failed publish", func() bool { return metric(t, reg, "seckill_outbox_publish_failures_total") == 1 })
	if o.Deliver(ctx, r.id, rs[1].streamID, rs[1].event) {
		t.Fatal("Deliver accepted right after a failed publish, want the fast path paused")
	}
	if n := r.depth(); n != 3 {
		t.Fatalf("outbox depth %d, want all 3 entries kept", n)
	}
	sw.cur.Store(r.pub) // the broker answers again
	if o.Deliver(ctx, r.id, rs[2].streamID, rs[2].event) {
		t.Fatal("Deliver accepted within Backoff with no relay pass since the failure")
	}
	if got := metric(t, reg, "seckill_outbox_fast_path_skipped_total"); got != 2 {
		t.Fatalf("fast_path_skipped_total %v, want 2", got)
	}
	r.relayUntilEmpty(o) // publishes rs[0..2] and ends the pause
	rs = append(rs, r.reserve(4, 1)...)
	if !o.Deliver(ctx, r.id, rs[3].streamID, rs[3].event) {
		t.Fatal("Deliver refused after a successful relay pass")
	}
	waitFor(t, "the fast path's event removed", func() bool { return r.depth() == 0 })
	r.wantDelivered(rs, 1)
}

// TestPauseEndsAfterBackoff: with no relay pass, the fast path takes events again once Backoff has passed.
func TestPauseEndsAfterBackoff(t *testing.T) {
	r := newRig(t, 10)
	closed := r.newPublisher()
	_ = closed.Close()
	var sw switchedPublisher
	sw.cur.Store(closed)
	o, reg := r.outbox(outbox.Config{Backoff: 300 * time.Millisecond}, r.rdb, &sw)
	rs := r.reserve(1, 2)
	ctx := context.Background()
	o.Deliver(ctx, r.id, rs[0].streamID, rs[0].event)
	waitFor(t, "a failed publish", func() bool { return metric(t, reg, "seckill_outbox_publish_failures_total") == 1 })
	sw.cur.Store(r.pub)
	start := time.Now()
	waitFor(t, "the fast path taking events again", func() bool { return o.Deliver(ctx, r.id, rs[1].streamID, rs[1].event) })
	if time.Since(start) > 10*time.Second {
		t.Fatalf("paused for %s, want about the 300ms Backoff", time.Since(start))
	}
	waitFor(t, "the second event removed", func() bool {
		n, _ := r.rdb.XLen(ctx, schema.KeysFor(r.id).Outbox).Result()
		return n == 1 // the first stays for the relay
	})
}

// TestCloseDrainsTheQueue: Close returns after the fast path has published and removed everything queued;
// later events are left to the relay.
func TestCloseDrainsTheQueue(t *testing.T) {
	r := newRig(t, 10)
	g := newGated(r.pub)
	o, _ := r.outbox(outbox.Config{}, r.rdb, g)
	rs := r.reserve(1, 6)
	ctx := context.Background()
	for _, x := range rs[:5] {
		if !o.Deliver(ctx, r.id, x.streamID, x.event) {
			t.Fatal("Deliver refused")
		}
	}
	<-g.entered
	closed := make(chan struct{})
	go func() { _ = o.Close(); close(closed) }()
	close(g.gate)
	<-closed
	if n := r.depth(); n != 1 {
		t.Fatalf("outbox depth %d after Close, want only the undelivered sixth entry", n)
	}
	if o.Deliver(ctx, r.id, rs[5].streamID, rs[5].event) {
		t.Fatal("Deliver accepted after Close")
	}
	r.wantDelivered(rs[:5], 1)
}

// TestFailedAckPublishesAgain: the fast path published but could not remove the entry (Redis refused XDEL): the
// entry stays, the relay publishes it a second time and removes it. The duplicate is expected (projections are
// idempotent by event id) and counted.
func TestFailedAckPublishesAgain(t *testing.T) {
	r := newRig(t, 10)
	ctx := context.Background()
	user := "outbox-noxdel-" + schematest.RandomSuffix()
	if err := r.rdb.Do(ctx, "ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-xdel").Err(); err != nil {
		t.Fatalf("create a redis user without XDEL: %v", err)
	}
	t.Cleanup(func() { r.rdb.Do(context.Background(), "ACL", "DELUSER", user) })
	noXDel := redis.NewClient(&redis.Options{Addr: schematest.RedisAddr(), Username: user, Password: "pw",
		DB: schematest.RedisDBOutbox, MaxRetries: -1})
	t.Cleanup(func() { _ = noXDel.Close() })
	o, reg := r.outbox(outbox.Config{}, noXDel, r.pub)
	rs := r.reserve(1, 1)
	if !o.Deliver(ctx, r.id, rs[0].streamID, rs[0].event) {
		t.Fatal("Deliver refused")
	}
	waitFor(t, "a failed ack", func() bool { return metric(t, reg, "seckill_outbox_ack_failures_total") == 1 })
	if n := r.depth(); n != 1 {
		t.Fatalf("outbox depth %d, want the published entry still there", n)
	}
	relay, _ := r.outbox(outbox.Config{}, r.rdb, r.pub)
	r.relayUntilEmpty(relay)
	r.wantDelivered(rs, 2)
}

// TestRelayGaugesUseTheRedisClock: entries younger than MinAge stay; the depth and age gauges describe them,
// the age measured on the Redis clock of their stream ids.
func TestRelayGaugesUseTheRedisClock(t *testing.T) {
	r := newRig(t, 10)
	o, reg := r.outbox(outbox.Config{MinAge: time.Hour}, r.rdb, r.pub)
	r.reserve(1, 3)
	ctx := context.Background()
	if err := o.RelayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r.depth(); n != 3 {
		t.Fatalf("depth %d, want the 3 young entries kept", n)
	}
	if got := metric(t, reg, "seckill_outbox_depth"); got < 3 {
		t.Fatalf("depth gauge %v, want at least this product's 3", got)
	}
	if got := metric(t, reg, "seckill_outbox_relayed_total"); got != 0 {
		t.Fatalf("relayed_total %v, want 0", got)
	}
	if got := metric(t, reg, "seckill_outbox_oldest_age_seconds"); got < 0 {
		t.Fatalf("oldest age %v, want ≥ 0", got)
	}
}

// TestRelayAgesEntriesOnTheRedisClock: the relay judges an entry's age on the Redis clock its stream id carries,
// whatever this process's clock says: an hour behind, old entries are still relayed; an hour ahead, young
// entries still wait.
func TestRelayAgesEntriesOnTheRedisClock(t *testing.T) {
	r := newRig(t, 10)
	behind := func() time.Time { return time.Now().Add(-time.Hour) }
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	young, _ := r.outbox(outbox.Config{MinAge: 30 * time.Minute, Now: ahead}, r.rdb, r.pub)
	rs := r.reserve(1, 2)
	if err := young.RelayOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.depth(); n != 2 {
		t.Fatalf("depth %d after a pass with MinAge 30m, want both young entries kept", n)
	}
	old, _ := r.outbox(outbox.Config{Now: behind}, r.rdb, r.pub)
	r.relayUntilEmpty(old)
	r.wantDelivered(rs, 1)
}

// TestFlushPublishesEvenYoungEntries: the last pass of a process going down publishes every waiting entry, not
// only those past MinAge.
func TestFlushPublishesEvenYoungEntries(t *testing.T) {
	r := newRig(t, 10)
	o, _ := r.outbox(outbox.Config{MinAge: time.Hour}, r.rdb, r.pub)
	rs := r.reserve(1, 3)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.depth(); n != 0 {
		t.Fatalf("depth %d after Flush, want 0", n)
	}
	r.wantDelivered(rs, 1)
}
