package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/outbox"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// stoppedOutbox is a real Outbox whose fast path has stopped (Close), as in a process going down right after the
// Lua script ran: the events it is handed stay in the Redis outbox.
func stoppedOutbox(t *testing.T, rdb redis.UniversalClient) *outbox.Outbox {
	t.Helper()
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: []string{schematest.Namesrv(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	o, err := outbox.New(outbox.Config{}, rdb, pub, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_ = o.Close()
	return o
}

// TestRelayDeliversWhatACrashLeftBehind: the publish step never happens after the script ran (the deliverer has
// stopped); the relay delivers the events.
func TestRelayDeliversWhatACrashLeftBehind(t *testing.T) {
	s := newStack(t, func(c *stackConfig) { c.deps.Outbox = stoppedOutbox(t, c.deps.Redis) })
	id := s.list(10)
	for u := range int64(3) {
		if r := s.kill(500+u, id); r.Status != http.StatusOK {
			t.Fatalf("kill: %d %s", r.Status, r.Message)
		}
	}
	if n, _, _ := schema.OutboxStats(context.Background(), s.rdb, id); n != 3 {
		t.Fatalf("outbox depth %d, want the 3 undelivered reservations", n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for { // relay passes until the entries are past the relay's MinAge (200ms) and delivered
		if err := s.outbox.RelayOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := schema.OutboxStats(context.Background(), s.rdb, id); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay left entries in the outbox for 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := s.received(3, 30*time.Second); len(got) != 3 {
		t.Fatalf("%d events reached RocketMQ, want 3", len(got))
	}
}

// TestSellingThroughABrokerOutage stops the broker, keeps selling (buyers still get 200), starts it again: every
// reservation made while it was down reaches RocketMQ.
func TestSellingThroughABrokerOutage(t *testing.T) {
	s := newStack(t)
	id := s.list(1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.outbox.Run(ctx) }()
	ok := 0
	for u := range int64(20) {
		if r := s.kill(1+u, id); r.Status == http.StatusOK {
			ok++
		}
	}
	script := schematest.ServicesScript()
	if out, err := exec.Command("bash", script, "stop-broker").CombinedOutput(); err != nil {
		t.Fatalf("stop broker: %v\n%s", err, out)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = exec.Command("bash", script, "start-broker").Run()
		}
	})
	for u := range int64(30) {
		r := s.kill(1000+u, id)
		if r.Status != http.StatusOK {
			t.Fatalf("kill while the broker is down: %d %s, want 200", r.Status, r.Message)
		}
		ok++
	}
	if n, _, _ := schema.OutboxStats(context.Background(), s.rdb, id); n < 30 {
		t.Fatalf("outbox holds %d entries while the broker is down, want ≥ 30", n)
	}
	if out, err := exec.Command("bash", script, "start-broker").CombinedOutput(); err != nil {
		t.Fatalf("start broker: %v\n%s", err, out)
	}
	restarted = true
	for u := range int64(10) {
		if r := s.kill(2000+u, id); r.Status == http.StatusOK {
			ok++
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, _, _ := schema.OutboxStats(context.Background(), s.rdb, id)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d entries 90s after the broker came back", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := s.received(ok, 90*time.Second)
	if len(got) != ok {
		t.Fatalf("%d distinct events reached RocketMQ, want %d (every 200)", len(got), ok)
	}
}
