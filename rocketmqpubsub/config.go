package rocketmqpubsub

import (
	"errors"
	"fmt"
	"time"
)

// NoSleep disables the pause before a nacked message is delivered again (SubscriberConfig.NackResendSleep).
const NoSleep time.Duration = -1

// PublisherConfig configures a Publisher. The zero value of every optional field means "use the default".
type PublisherConfig struct {
	// NameServers are the RocketMQ NameServer addresses, e.g. []string{"127.0.0.1:9876"}. Required.
	NameServers []string

	// Marshaler turns Watermill messages into RocketMQ messages. Defaults to DefaultMarshaler{}.
	Marshaler Marshaler

	// GroupName is the RocketMQ producer group. Defaults to "seckill-producer".
	GroupName string

	// SendTimeout bounds one send attempt. Defaults to 3s. A deadline on msg.Context() that is earlier wins.
	SendTimeout time.Duration

	// Retries is how often the client retries a send that failed with a retryable broker code.
	// Defaults to 2. A negative value disables retries.
	Retries int

	// BatchMaxMessages caps how many messages one Publish call packs into a single batch send.
	// Defaults to 128. 1 disables batching.
	BatchMaxMessages int

	// BatchMaxBytes caps the encoded size (bodies plus properties) of one batch send. Defaults to 1 MiB.
	// A message larger than this is sent alone.
	BatchMaxBytes int

	// RouteWait is how long a send waits for a route to its topic when the client finds none: the NameServer
	// unreachable for a moment, a topic just created, a broker restarting. The client reports that at once
	// (and says nothing of why), so the send is tried again, with growing pauses, until it finds a route, the
	// messages' contexts end or RouteWait has passed. Defaults to 5s; a negative value fails at once.
	RouteWait time.Duration
}

func (c *PublisherConfig) setDefaults() {
	if c.Marshaler == nil {
		c.Marshaler = DefaultMarshaler{}
	}
	if c.GroupName == "" {
		c.GroupName = "seckill-producer"
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = 3 * time.Second
	}
	if c.RouteWait == 0 {
		c.RouteWait = 5 * time.Second
	} else if c.RouteWait < 0 {
		c.RouteWait = 0
	}
	if c.Retries == 0 {
		c.Retries = 2
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.BatchMaxMessages == 0 {
		c.BatchMaxMessages = 128
	}
	if c.BatchMaxBytes == 0 {
		c.BatchMaxBytes = 1 << 20
	}
}

// Validate reports the first invalid field of a config whose defaults have been set.
func (c PublisherConfig) Validate() error {
	if err := validateNameServers(c.NameServers); err != nil {
		return err
	}
	if err := ValidateGroup(c.GroupName); err != nil {
		return err
	}
	if c.SendTimeout < 0 {
		return errors.New("negative send timeout")
	}
	if c.BatchMaxMessages < 1 {
		return fmt.Errorf("invalid batch max messages %d", c.BatchMaxMessages)
	}
	if c.BatchMaxBytes < 1 {
		return fmt.Errorf("invalid batch max bytes %d", c.BatchMaxBytes)
	}
	return nil
}

// SubscriberConfig configures a Subscriber. The zero value of every optional field means "use the default".
type SubscriberConfig struct {
	// NameServers are the RocketMQ NameServer addresses, e.g. []string{"127.0.0.1:9876"}. Required.
	NameServers []string

	// BrokerAddr is the broker on which Subscribe and SubscribeInitialize create missing topics, and which each
	// subscription asks whether it still registers the subscription's consumer (see heartbeat.go).
	// Defaults to "127.0.0.1:10911". The client's public API exposes no broker addresses, so there is no discovery.
	BrokerAddr string

	// ConsumerGroup is the RocketMQ consumer group of every subscription. Optional: if empty,
	// GenerateConsumerGroup(topic) names it. A fixed group can be bound to one topic only, because a RocketMQ
	// group must have the same subscription on every consumer.
	ConsumerGroup string

	// GenerateConsumerGroup derives the group of a topic when ConsumerGroup is empty.
	// Defaults to DefaultConsumerGroup ("wm-" + topic).
	GenerateConsumerGroup func(topic string) string

	// QueueNums is the number of queues of topics that Subscribe creates. Defaults to 4.
	QueueNums int

	// NackResendSleep is the pause before a nacked message is delivered again (locally, not through the
	// broker's retry topic). Defaults to 100ms; NoSleep resends at once.
	NackResendSleep time.Duration

	// TopicReadyTimeout bounds how long Subscribe waits for a created topic to become routable. Defaults to 30s.
	TopicReadyTimeout time.Duration

	// DoNotCreateTopic makes Subscribe use the topic as it is; starting fails if it does not exist.
	// Defaults to false.
	DoNotCreateTopic bool

	// PullBatchSize is how many messages one pull fetches from a queue. Defaults to 32.
	PullBatchSize int

	// MaxInFlightPerQueue is how many messages of one queue may be handed out and not yet acked or nacked.
	// Defaults to 1: the next message of a queue comes only after the previous one was acked or nacked, which
	// is Watermill's contract and what ordered consumers need. A consumer whose handling is idempotent and does
	// not depend on order may raise it to have many messages in flight (say, to batch their database commits);
	// they are then handed out in no particular order, and each is committed only once acked.
	MaxInFlightPerQueue int

	// Marshaler turns RocketMQ messages into Watermill messages. Defaults to DefaultMarshaler{}.
	Marshaler Marshaler
}

func (c *SubscriberConfig) setDefaults() {
	if c.BrokerAddr == "" {
		c.BrokerAddr = "127.0.0.1:10911"
	}
	if c.GenerateConsumerGroup == nil {
		c.GenerateConsumerGroup = DefaultConsumerGroup
	}
	if c.QueueNums == 0 {
		c.QueueNums = 4
	}
	if c.NackResendSleep == 0 {
		c.NackResendSleep = 100 * time.Millisecond
	}
	if c.TopicReadyTimeout == 0 {
		c.TopicReadyTimeout = 30 * time.Second
	}
	if c.PullBatchSize == 0 {
		c.PullBatchSize = 32
	}
	if c.MaxInFlightPerQueue == 0 {
		c.MaxInFlightPerQueue = 1
	}
	if c.Marshaler == nil {
		c.Marshaler = DefaultMarshaler{}
	}
}

// bufferedPerQueue is how many messages of one queue a subscription buffers ahead of its handlers.
func (c SubscriberConfig) bufferedPerQueue() int { return c.MaxInFlightPerQueue + 8*c.PullBatchSize }

// Validate reports the first invalid field of a config whose defaults have been set.
func (c SubscriberConfig) Validate() error {
	if err := validateNameServers(c.NameServers); err != nil {
		return err
	}
	if c.ConsumerGroup != "" {
		if err := ValidateGroup(c.ConsumerGroup); err != nil {
			return err
		}
	}
	if c.QueueNums < 1 {
		return fmt.Errorf("invalid queue nums %d", c.QueueNums)
	}
	if c.NackResendSleep < 0 && c.NackResendSleep != NoSleep {
		return fmt.Errorf("invalid nack resend sleep %s", c.NackResendSleep)
	}
	if c.PullBatchSize < 1 || c.PullBatchSize > 1024 {
		return fmt.Errorf("pull batch size %d out of range [1, 1024]", c.PullBatchSize)
	}
	if c.MaxInFlightPerQueue < 1 || c.MaxInFlightPerQueue > 256 {
		return fmt.Errorf("max in flight per queue %d out of range [1, 256]", c.MaxInFlightPerQueue)
	}
	return nil
}

func validateNameServers(addrs []string) error {
	if len(addrs) == 0 {
		return errors.New("missing name servers")
	}
	for _, a := range addrs {
		if a == "" {
			return errors.New("empty name server address")
		}
	}
	return nil
}
