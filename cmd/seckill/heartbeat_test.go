package main

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seckill/seckill/replay"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

func newTestHeartbeat(t *testing.T, db *sql.DB, now *time.Time) *heartbeat {
	t.Helper()
	h, err := newHeartbeat(db, "test-"+schematest.RandomSuffix(), prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.now = func() time.Time { return *now }
	return h
}

// passes runs one message through hold with a context that ends after d, and reports whether the handler ran.
func passes(h *heartbeat, d time.Duration) (bool, error) {
	ran := false
	msg := message.NewMessage("m", nil)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	msg.SetContext(ctx)
	_, err := h.hold(func(*message.Message) ([]*message.Message, error) { ran = true; return nil, nil })(msg)
	return ran, err
}

// TestConsumerWritesOnlyWhileReplaySeesIt: whenever the heartbeat lets a message through, `replay --in-place`
// (LiveConsumers with its default window) counts the consumer as running; past the lease, messages are held.
func TestConsumerWritesOnlyWhileReplaySeesIt(t *testing.T) {
	db := schematest.MySQL(t).DB
	now := time.Now()
	h := newTestHeartbeat(t, db, &now)
	if ran, err := passes(h, 50*time.Millisecond); ran || err == nil {
		t.Fatalf("a message went through before the first heartbeat (ran %v, err %v)", ran, err)
	}
	if err := h.beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := now
	step := 500 * time.Millisecond
	for off := time.Duration(0); off <= replay.DefaultConsumerWindow+time.Second; off += step {
		// off has elapsed since the heartbeat, on the consumer's clock and on the database's (the row ages).
		now = start.Add(off)
		if off > 0 {
			if _, err := db.Exec(`UPDATE tb_consumer_heartbeat SET seen_at = seen_at - INTERVAL ? MICROSECOND`,
				step.Microseconds()); err != nil {
				t.Fatal(err)
			}
		}
		ran, _ := passes(h, 10*time.Millisecond)
		live, err := schema.LiveConsumers(context.Background(), db, replay.DefaultConsumerWindow)
		if err != nil {
			t.Fatal(err)
		}
		if ran && !slices.Contains(live, h.instance) {
			t.Fatalf("%s after the heartbeat a message went through while replay sees no consumer", off)
		}
		if off < heartbeatLease && !ran {
			t.Fatalf("%s after the heartbeat (lease %s) a message was held", off, heartbeatLease)
		}
	}
}

// TestFailingHeartbeatIsCountedAndHoldsMessages: a heartbeat that cannot be written is counted, and once the
// lease has run out the consumer holds its messages until a heartbeat succeeds again.
func TestFailingHeartbeatIsCountedAndHoldsMessages(t *testing.T) {
	db := schematest.MySQL(t).DB
	now := time.Now()
	h := newTestHeartbeat(t, db, &now)
	if err := h.beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	broken, err := sql.Open("mysql", schematest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	_ = broken.Close()
	h.db = broken // MySQL unreachable from now on
	now = now.Add(heartbeatInterval)
	if err := h.beat(context.Background()); err == nil {
		t.Fatal("heartbeat on a closed database succeeded")
	}
	if got := counterValue(t, h.failures); got != 1 {
		t.Fatalf("heartbeat failures %v, want 1", got)
	}
	now = now.Add(heartbeatLease)
	ran, err := passes(h, 50*time.Millisecond)
	if ran || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the lease a message went through (ran %v, err %v), want it held", ran, err)
	}
	h.db = db
	if err := h.beat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ran, err := passes(h, time.Second); !ran || err != nil {
		t.Fatalf("after the heartbeat came back a message was held (err %v)", err)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v", err)
	}
	return mfs[0].GetMetric()[0].GetCounter().GetValue()
}
