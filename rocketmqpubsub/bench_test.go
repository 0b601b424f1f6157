package rocketmqpubsub_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/rocketmqpubsub/internal/rmqtest"
)

// benchPubSub returns a Publisher and Subscriber without per-message logging.
func benchPubSub(b *testing.B) (*rocketmqpubsub.Publisher, *rocketmqpubsub.Subscriber) {
	b.Helper()
	ns := []string{rmqtest.Namesrv(b)}
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: ns}, nil)
	if err != nil {
		b.Fatal(err)
	}
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: ns,
		BrokerAddr: rmqtest.Broker()}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = pub.Close()
		_ = sub.Close()
	})
	return pub, sub
}

// BenchmarkSubscriber is Watermill's benchmark: one goroutine publishes b.N single messages while the
// subscriber consumes them, so it measures the slower of the two.
func BenchmarkSubscriber(b *testing.B) {
	tests.BenchSubscriber(b, func(n int) (message.Publisher, message.Subscriber) {
		return benchPubSub(b)
	})
}

func benchMessage() *message.Message {
	m := message.NewMessage(watermill.NewUUID(), make([]byte, 128))
	m.Metadata.Set("name", "SeckillReserved")
	return m
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPublish measures publishing 128-byte messages: one per Publish call from one goroutine and from 32,
// and 100 per call (sent as batches).
func BenchmarkPublish(b *testing.B) {
	b.Run("single", func(b *testing.B) {
		pub, sub := benchPubSub(b)
		topic := benchTopic(b, sub)
		b.ResetTimer()
		for range b.N {
			if err := pub.Publish(topic, benchMessage()); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("single-32-goroutines", func(b *testing.B) {
		pub, sub := benchPubSub(b)
		topic := benchTopic(b, sub)
		b.SetParallelism(16) // 16 × GOMAXPROCS (2 here)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := pub.Publish(topic, benchMessage()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRate(b)
	})
	b.Run("batch-100", func(b *testing.B) {
		pub, sub := benchPubSub(b)
		topic := benchTopic(b, sub)
		b.ResetTimer()
		for i := 0; i < b.N; i += 100 {
			batch := make([]*message.Message, min(100, b.N-i))
			for j := range batch {
				batch[j] = benchMessage()
			}
			if err := pub.Publish(topic, batch...); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}

// BenchmarkConsume measures consuming alone: b.N messages are published (in batches) beforehand, then one
// subscription reads and acks them one by one.
func BenchmarkConsume(b *testing.B) {
	pub, sub := benchPubSub(b)
	topic := benchTopic(b, sub)
	for i := 0; i < b.N; i += 100 {
		batch := make([]*message.Message, min(100, b.N-i))
		for j := range batch {
			batch[j] = benchMessage()
		}
		if err := pub.Publish(topic, batch...); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	timeout := time.After(5 * time.Minute)
	// The clock starts at the first message, so consumer start-up and rebalancing are not measured.
	for i := range b.N {
		select {
		case m := <-msgs:
			m.Ack()
		case <-timeout:
			b.Fatal("timed out")
		}
		if i == 0 {
			b.ResetTimer()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N-1)/b.Elapsed().Seconds(), "msgs/s")
}

func benchTopic(b *testing.B, sub *rocketmqpubsub.Subscriber) string {
	b.Helper()
	topic := "bench-" + watermill.NewShortUUID()
	if err := sub.SubscribeInitialize(topic); err != nil {
		b.Fatal(err)
	}
	return topic
}

// BenchmarkSubscribeClose is what a subscription's life costs beyond its messages: a new Subscriber subscribes
// to one topic (whose group's other members have all left) and closes, which waits until the subscription has
// left its group (leave.go).
func BenchmarkSubscribeClose(b *testing.B) {
	ns := []string{rmqtest.Namesrv(b)}
	topic := "bench-close-" + watermill.NewShortUUID()
	for b.Loop() {
		sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: ns,
			BrokerAddr: rmqtest.Broker()}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sub.Subscribe(context.Background(), topic); err != nil {
			b.Fatal(err)
		}
		if err := sub.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
