package rocketmqpubsub_test

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/rocketmqpubsub/internal/rmqtest"
)

func TestRoundTripThroughBroker(t *testing.T) {
	t.Parallel()
	pub, sub := newPubSub(t, "")
	defer pub.Close()
	defer sub.Close()
	topic := testTopic("roundtrip")

	empty := message.NewMessage(watermill.NewUUID(), nil)
	in := message.NewMessage(watermill.NewUUID(), []byte(`{"orderNo":"1"}`))
	in.Metadata = message.Metadata{
		"name": "SeckillReserved", "correlation_id": "c-1", "empty": "", "KEYS": "not-a-key", "nul": "\x00",
		"_watermill_message_uuid": in.UUID, "ключ": "значение",
	}
	if err := sub.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}
	// Sent alone: RocketMQ refuses an empty body outside a batch.
	if err := pub.Publish(topic, empty); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(topic, in); err != nil {
		t.Fatal(err)
	}
	got := received(t, subscribe(t, sub, topic), 2, 30*time.Second)
	if got[0].UUID == in.UUID {
		got[0], got[1] = got[1], got[0]
	}
	if got[0].UUID != empty.UUID || len(got[0].Payload) != 0 {
		t.Fatalf("empty payload: got %s %q", got[0].UUID, got[0].Payload)
	}
	out := got[1]
	if out.UUID != in.UUID || !reflect.DeepEqual(out.Metadata, in.Metadata) || string(out.Payload) != string(in.Payload) {
		t.Fatalf("got %s %q %q, want %s %q %q", out.UUID, out.Metadata, out.Payload, in.UUID, in.Metadata, in.Payload)
	}
	ctx := out.Context()
	if id, ok := rocketmqpubsub.MessageIDFromCtx(ctx); !ok || id == "" {
		t.Errorf("message id = %q, %v", id, ok)
	}
	if q, ok := rocketmqpubsub.QueueIDFromCtx(ctx); !ok || q < 0 || q > 3 {
		t.Errorf("queue id = %d, %v", q, ok)
	}
	if off, ok := rocketmqpubsub.QueueOffsetFromCtx(ctx); !ok || off < 0 || off > 1 {
		t.Errorf("queue offset = %d, %v; want 0 or 1", off, ok)
	}
	if n, ok := rocketmqpubsub.ReconsumeTimesFromCtx(ctx); !ok || n != 0 {
		t.Errorf("reconsume times = %d, %v", n, ok)
	}
}

func TestBatchedPublish(t *testing.T) {
	t.Parallel()
	pub, sub := newPubSub(t, "")
	defer pub.Close()
	defer sub.Close()
	topic := testTopic("batch")
	if err := sub.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	msgs := make([]*message.Message, n)
	want := map[string]bool{}
	for i := range msgs {
		// 4 KiB bodies: 1000 of them exceed BatchMaxBytes, so the call is split into several batches.
		msgs[i] = message.NewMessage(watermill.NewUUID(), make([]byte, 4096))
		msgs[i].Metadata.Set("i", "x")
		want[msgs[i].UUID] = true
	}
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range received(t, subscribe(t, sub, topic), n, 60*time.Second) {
		if !want[m.UUID] || m.Metadata.Get("i") != "x" || len(m.Payload) != 4096 {
			t.Fatalf("unexpected message %s %q (%d bytes)", m.UUID, m.Metadata, len(m.Payload))
		}
		id, _ := rocketmqpubsub.MessageIDFromCtx(m.Context())
		if ids[id] {
			t.Fatalf("message id %s seen twice", id)
		}
		ids[id] = true
	}
}

func TestDelayedMessageArrivesAfterTheDelay(t *testing.T) {
	t.Parallel()
	pub, sub := newPubSub(t, "")
	defer pub.Close()
	defer sub.Close()
	topic := testTopic("delay")
	msgs := subscribe(t, sub, topic)

	delayed := message.NewMessage(watermill.NewUUID(), []byte("later"))
	delay.Message(delayed, delay.For(2*time.Second))
	now := message.NewMessage(watermill.NewUUID(), []byte("now"))
	start := time.Now()
	// One call: the undelayed message is batched, the delayed one goes alone as a timer message.
	if err := pub.Publish(topic, now, delayed); err != nil {
		t.Fatal(err)
	}
	got := received(t, msgs, 2, 30*time.Second)
	elapsed := time.Since(start)
	if got[0].UUID != now.UUID || got[1].UUID != delayed.UUID {
		t.Fatalf("order %s, %s; want the undelayed message first", got[0].UUID, got[1].UUID)
	}
	// The broker's timer wheel has 100 ms precision here (timerPrecisionMs).
	if elapsed < 1900*time.Millisecond || elapsed > 10*time.Second {
		t.Fatalf("delayed message arrived after %s, want about 2s", elapsed)
	}
	if got[1].Metadata.Get(delay.DelayedForKey) != "2s" {
		t.Fatalf("delay metadata lost: %q", got[1].Metadata)
	}
}

func TestPublishHonoursMessageContext(t *testing.T) {
	t.Parallel()
	pub, _ := newPubSub(t, "")
	defer pub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msg := message.NewMessage(watermill.NewUUID(), nil)
	msg.SetContext(ctx)
	if err := pub.Publish(testTopic("ctx"), msg, message.NewMessage(watermill.NewUUID(), nil)); err == nil {
		t.Fatal("publish with a cancelled message context succeeded")
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	pub, sub := newPubSub(t, "")
	for range 2 {
		if err := pub.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish("t", message.NewMessage("u", nil)); !errors.Is(err, rocketmqpubsub.ErrPublisherClosed) {
		t.Fatalf("publish after close: %v", err)
	}
	if _, err := sub.Subscribe(context.Background(), "t"); !errors.Is(err, rocketmqpubsub.ErrSubscriberClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
}

func TestFixedGroupIsBoundToOneTopic(t *testing.T) {
	t.Parallel()
	_, sub := newPubSub(t, "grp-"+watermill.NewShortUUID())
	defer sub.Close()
	subscribe(t, sub, testTopic("bound"))
	if _, err := sub.Subscribe(context.Background(), testTopic("other")); err == nil {
		t.Fatal("a fixed consumer group subscribed to a second topic")
	}
}

// panickyMarshaler panics the first time it unmarshals each message.
type panickyMarshaler struct {
	rocketmqpubsub.DefaultMarshaler
	panicked atomic.Bool
}

func (m *panickyMarshaler) Unmarshal(msg *primitive.MessageExt) (*message.Message, error) {
	if m.panicked.CompareAndSwap(false, true) {
		panic("boom")
	}
	return m.DefaultMarshaler.Unmarshal(msg)
}

func TestPanicDoesNotStallTheQueue(t *testing.T) {
	t.Parallel()
	ns := []string{rmqtest.Namesrv(t)}
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: ns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: ns,
		BrokerAddr: rmqtest.Broker(), Marshaler: &panickyMarshaler{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	topic := testTopic("panic")
	if err := sub.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}
	in := []*message.Message{message.NewMessage("a", nil), message.NewMessage("b", nil)}
	if err := pub.Publish(topic, in...); err != nil {
		t.Fatal(err)
	}
	got := map[string]int32{}
	for _, m := range received(t, subscribe(t, sub, topic), 2, 60*time.Second) {
		got[m.UUID], _ = rocketmqpubsub.ReconsumeTimesFromCtx(m.Context())
	}
	if len(got) != 2 || got["a"] != 1 {
		t.Fatalf("got %v; want a and b, with a redelivered once by the broker", got)
	}
}

// TestManyInFlightPerQueueWhenAsked: with MaxInFlightPerQueue 8, a queue hands out eight distinct messages before
// any is acked, no ninth, and every message is delivered.
func TestManyInFlightPerQueueWhenAsked(t *testing.T) {
	t.Parallel()
	waitForRestarts(t)
	const n = 40
	sub, topic := backlog(t, rocketmqpubsub.SubscriberConfig{QueueNums: 1, MaxInFlightPerQueue: 8}, "inflight", n)
	out := subscribe(t, sub, topic)
	var held []*message.Message
	timeout := time.After(30 * time.Second)
	for len(held) < 8 {
		select {
		case m := <-out:
			held = append(held, m)
		case <-timeout:
			t.Fatalf("%d messages handed out before any ack, want 8", len(held))
		}
	}
	select {
	case m := <-out:
		t.Fatalf("a ninth message %s came before any ack", m.UUID)
	case <-time.After(300 * time.Millisecond):
	}
	offsets := map[int64]bool{}
	for _, m := range held {
		off, _ := rocketmqpubsub.QueueOffsetFromCtx(m.Context())
		if offsets[off] {
			t.Fatalf("offset %d handed out twice", off)
		}
		offsets[off] = true
		m.Ack()
	}
	rest := received(t, out, n-8, 30*time.Second)
	if len(rest) != n-8 {
		t.Fatalf("%d more messages, want %d", len(rest), n-8)
	}
}

// A backlog is buffered only so far ahead of the handlers: every buffered message holds a client goroutine (with
// its stack) until it is handed out, so a subscription whose handlers lag behind a long backlog must not pull it
// all into memory. (The client's default topic threshold let it buffer until 4,096 goroutines were taken.)
// Not parallel: it counts the process's goroutines.
func TestBacklogIsBufferedOnlyAFewPullsAhead(t *testing.T) {
	if raceBuild {
		t.Skip("race builds leave the client's pull thresholds at its defaults; the plain pass runs this test")
	}
	waitForRestarts(t)
	// One queue, one message in flight, pulls of 8: a few dozen messages buffered at most.
	const n = 2000
	sub, topic := backlog(t, rocketmqpubsub.SubscriberConfig{QueueNums: 1, PullBatchSize: 8}, "backlog", n)
	before := runtime.NumGoroutine()
	out := subscribe(t, sub, topic)
	first := received(t, out, 1, 30*time.Second)
	// The first message is held (not acked) while the client pulls ahead; watch what that costs for 3 s.
	most := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		most = max(most, runtime.NumGoroutine()-before)
	}
	if most > 400 {
		t.Fatalf("%d more goroutines while the first of %d messages was held: the backlog was pulled into memory", most, n)
	}
	t.Logf("at most %d more goroutines while the first of %d messages was held", most, n)
	first[0].Ack()
}

// backlog returns a subscriber built from cfg (on the test broker) and a new topic, initialised, in which n
// messages wait.
func backlog(t *testing.T, cfg rocketmqpubsub.SubscriberConfig, name string, n int) (*rocketmqpubsub.Subscriber, string) {
	t.Helper()
	ns := []string{rmqtest.Namesrv(t)}
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: ns}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	cfg.NameServers, cfg.BrokerAddr = ns, rmqtest.Broker()
	sub, err := rocketmqpubsub.NewSubscriber(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	topic := testTopic(name)
	if err := sub.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}
	for sent := 0; sent < n; sent += 100 {
		msgs := make([]*message.Message, min(100, n-sent))
		for i := range msgs {
			msgs[i] = message.NewMessage(watermill.NewUUID(), []byte("x"))
		}
		if err := pub.Publish(topic, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	return sub, topic
}
