package rocketmqpubsub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/rocketmqpubsub/internal/rmqtest"
)

// testLogger logs the adapter's errors; WATERMILL_DEBUG=1 adds debug and trace lines.
func testLogger() watermill.LoggerAdapter {
	debug, _ := strconv.ParseBool(os.Getenv("WATERMILL_DEBUG"))
	return watermill.NewStdLogger(debug, debug)
}

// restarts holds one file per broker restart in progress. The suite does not wait for the restarts
// TestReconnect starts, so the tests after it wait here instead of failing against a stopped broker.
var restarts = filepath.Join(os.TempDir(), fmt.Sprintf("rocketmqpubsub-restarts-%d", os.Getpid()))

func waitForRestarts(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		entries, err := os.ReadDir(restarts)
		if err != nil || len(entries) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker restart still running after 3m (%s)", restarts)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func newPubSub(t *testing.T, consumerGroup string) (*rocketmqpubsub.Publisher, *rocketmqpubsub.Subscriber) {
	t.Helper()
	waitForRestarts(t)
	ns := []string{rmqtest.Namesrv(t)}
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: ns}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{
		NameServers:   ns,
		BrokerAddr:    rmqtest.Broker(),
		ConsumerGroup: consumerGroup,
	}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	return pub, sub
}

func createPubSub(t *testing.T) (message.Publisher, message.Subscriber) {
	return newPubSub(t, "")
}

func createPubSubWithConsumerGroup(t *testing.T, consumerGroup string) (message.Publisher, message.Subscriber) {
	return newPubSub(t, consumerGroup)
}

func features() tests.Features {
	f := tests.Features{
		ConsumerGroups: true,
		Persistent:     true,
	}
	// TestReconnect restarts the shared broker twice, which disturbs any other test using it at that moment: it
	// runs where packages take turns (`make test` and `make test-pubsub-full` set SECKILL_TEST_BROKER_RESTARTS=1).
	if restart := rmqtest.RestartBrokerCommand(); restart != nil {
		f.RestartServiceCommand = append([]string{"bash", "-c",
			`mkdir -p "$1" && f=$(mktemp -p "$1") && trap 'rm -f "$f"' EXIT && shift && "$@"`,
			"restart", restarts}, restart...)
	}
	return f
}

func TestPublishSubscribe(t *testing.T) {
	rmqtest.Namesrv(t)
	tests.TestPubSub(t, features(), createPubSub, createPubSubWithConsumerGroup)
}

// received reads n messages from msgs, acking each, or fails after timeout.
func received(t *testing.T, msgs <-chan *message.Message, n int, timeout time.Duration) []*message.Message {
	t.Helper()
	var out []*message.Message
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("channel closed after %d of %d messages", len(out), n)
			}
			m.Ack()
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d of %d messages in %s", len(out), n, timeout)
		}
	}
	return out
}

func subscribe(t *testing.T, sub *rocketmqpubsub.Subscriber, topic string) <-chan *message.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func testTopic(prefix string) string { return prefix + "-" + watermill.NewShortUUID() }
