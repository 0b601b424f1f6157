package rocketmqpubsub_test

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/seckill/seckill/rocketmqpubsub"
)

// Publish an event and consume it with the topic's default consumer group (needs a running broker).
func Example() {
	ns := []string{"127.0.0.1:9876"}
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: ns}, nil)
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := rocketmqpubsub.NewSubscriber(rocketmqpubsub.SubscriberConfig{NameServers: ns}, nil)
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	topic := "example-" + watermill.NewShortUUID() // a new topic: its consumer group starts at the first offset
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		panic(err)
	}
	event := message.NewMessage(watermill.NewUUID(), []byte(`{"orderNo":"42"}`))
	event.Metadata.Set("name", "SeckillReserved")
	if err := pub.Publish(topic, event); err != nil {
		panic(err)
	}
	msg := <-msgs
	fmt.Println(string(msg.Payload))
	msg.Ack()
	// Output: {"orderNo":"42"}
}
