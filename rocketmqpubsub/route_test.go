package rocketmqpubsub_test

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/rocketmqpubsub/internal/rmqtest"
)

// lateNameServer returns an address where nothing listens until after, when a proxy to the real NameServer
// starts there; the proxy stops with the test.
func lateNameServer(t *testing.T, after time.Duration) string {
	t.Helper()
	target := rmqtest.Namesrv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-time.After(after):
		case <-ctx.Done():
			return
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("proxy listen on %s: %v", addr, err)
			return
		}
		context.AfterFunc(ctx, func() { _ = l.Close() })
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			context.AfterFunc(ctx, func() { _ = in.Close(); _ = out.Close() })
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return addr
}

// A Publish that finds no route for its topic (the NameServer unreachable for a moment, a topic just created, a
// broker restarting) waits for one up to RouteWait instead of failing at once.
func TestPublishWaitsForTheTopicsRoute(t *testing.T) {
	t.Parallel()
	topic := testTopic("route")
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: []string{rmqtest.Namesrv(t)},
		BrokerAddr: rmqtest.Broker()}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.SubscribeInitialize(topic); err != nil {
		t.Fatal(err)
	}

	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{
		NameServers: []string{lateNameServer(t, 1500*time.Millisecond)}}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	start := time.Now()
	if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("x"))); err != nil {
		t.Fatalf("publish while the NameServer came up after 1.5s: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("publish returned after %v, before the NameServer was reachable", waited)
	}

	impatient, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{
		NameServers: []string{lateNameServer(t, time.Hour)}, RouteWait: 300 * time.Millisecond}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	start = time.Now()
	err = impatient.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("x")))
	if err == nil || !strings.Contains(err.Error(), "route") {
		t.Fatalf("publish without a NameServer: err = %v, want a missing route", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("publish without a NameServer gave up after %v, want about RouteWait (300ms)", waited)
	}
}
