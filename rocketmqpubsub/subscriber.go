package rocketmqpubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// ErrSubscriberClosed is returned by Subscribe and SubscribeInitialize after Close.
var ErrSubscriberClosed = errors.New("subscriber closed")

// Subscriber consumes RocketMQ topics with one push consumer (and client instance) per Subscribe call, in
// clustering mode: the consumers of one group share the topic's queues. It is safe for concurrent use.
//
// Delivery contract: each output channel is unbuffered; with the default MaxInFlightPerQueue of 1 a message is
// followed by the next one of its queue only after it was acked or nacked, so messages of one queue arrive one at
// a time and in queue order (a
// message the broker redelivers through the retry topic, or one redelivered after a rebalance, may break the
// order). Ack commits the message; Nack delivers it again after NackResendSleep, locally. Every message's
// context derives from the Subscribe context and is cancelled after Ack, Nack or the end of the subscription.
// Messages not acked when a subscription ends are not committed and come back to the group later.
type Subscriber struct {
	config SubscriberConfig
	logger watermill.LoggerAdapter

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	wg      sync.WaitGroup // one per running subscription
	topics  map[string]bool
	bound   string // the topic a fixed ConsumerGroup is bound to
}

// NewSubscriber checks config; it connects to nothing until Subscribe. logger may be nil.
func NewSubscriber(config SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, fmt.Errorf("invalid subscriber config: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return &Subscriber{
		config:  config,
		logger:  logger.With(watermill.LogFields{"provider": "rocketmq", "subscriber_uuid": watermill.NewShortUUID()}),
		closing: make(chan struct{}),
		topics:  map[string]bool{},
	}, nil
}

// SubscribeInitialize creates topic with QueueNums queues on BrokerAddr unless it exists, and waits until it is
// routable (at most TopicReadyTimeout). Safe for concurrent use.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	s.mu.Lock()
	closed, known := s.closed, s.topics[topic]
	s.mu.Unlock()
	if closed {
		return ErrSubscriberClosed
	}
	if known {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.config.TopicReadyTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := EnsureTopic(ctx, s.config.NameServers, s.config.BrokerAddr, topic, s.config.QueueNums); err != nil {
		return err
	}
	s.mu.Lock()
	s.topics[topic] = true
	s.mu.Unlock()
	return nil
}

// Subscribe starts a consumer of topic in the group ConsumerGroup (or GenerateConsumerGroup(topic)), creating
// the topic first unless DoNotCreateTopic. A new group starts at the first offset of each queue. The returned
// channel is closed when ctx ends or the Subscriber is closed, after in-flight messages were released.
// Safe for concurrent use.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	group := s.config.ConsumerGroup
	if group == "" {
		group = s.config.GenerateConsumerGroup(topic)
	}
	if err := ValidateGroup(group); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrSubscriberClosed
	}
	if s.config.ConsumerGroup != "" {
		if s.bound != "" && s.bound != topic {
			s.mu.Unlock()
			return nil, fmt.Errorf("consumer group %s is bound to topic %s, cannot subscribe to %s",
				group, s.bound, topic)
		}
		s.bound = topic
	}
	s.wg.Add(1)
	s.mu.Unlock()

	sub, err := s.start(ctx, topic, group)
	if err != nil {
		s.wg.Done()
		return nil, err
	}
	go sub.run()
	return sub.out, nil
}

func (s *Subscriber) start(ctx context.Context, topic, group string) (*subscription, error) {
	if !s.config.DoNotCreateTopic {
		if err := s.SubscribeInitialize(topic); err != nil {
			return nil, fmt.Errorf("cannot initialize topic %s: %w", topic, err)
		}
	}
	instance := "wm-sub-" + watermill.NewShortUUID()
	sub := &subscription{
		s:         s,
		ctx:       ctx,
		topic:     topic,
		group:     group,
		instance:  instance,
		out:       make(chan *message.Message),
		done:      make(chan struct{}),
		stopWatch: make(chan struct{}),
		watched:   make(chan struct{}),
		gates:     map[primitive.MessageQueue]*queueGate{},
		logger:    s.logger.With(watermill.LogFields{"topic": topic, "consumer_group": group, "consumer_instance": instance}),
	}
	opts := []consumer.Option{
		consumer.WithNsResolver(primitive.NewPassthroughResolver(s.config.NameServers)),
		consumer.WithGroupName(group),
		consumer.WithInstance(instance),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithPullBatchSize(int32(s.config.PullBatchSize)),
		// One callback per message, so each Ack commits on its own: a subscription that ends mid-batch does
		// not take acked messages back with the unacked ones.
		consumer.WithConsumeMessageBatchMaxSize(1),
		// The callbacks of one queue wait for each other (queueGate) while holding one of these slots, which
		// all queues of the topic share: keep more than the queues can buffer, so none starves the others.
		consumer.WithConsumeGoroutineNums(4096),
	}
	if !raceBuild {
		// Each buffered message holds one of those goroutines (and its stack) until it is handed out: buffer
		// MaxInFlightPerQueue plus eight pulls per queue (with two, a queue over the threshold waited 50 ms
		// for its next pull and an unthrottled drain lost ~9 % of its rate). At every rebalance the client
		// replaces the queue threshold by PullThresholdForTopic divided by the queues held; its default
		// (102,400) let a backlog take all 4,096 goroutines, so set both. Not in race builds: the client's
		// flow control, which these thresholds engage, logs the queue's offsets read without its lock and
		// counts its pauses unsynchronised (push_consumer.go, pullMessage), which the race detector reports.
		opts = append(opts,
			consumer.WithPullThresholdForQueue(int64(s.config.bufferedPerQueue())),
			consumer.WithPullThresholdForTopic(s.config.bufferedPerQueue()*s.config.QueueNums))
	}
	pc, err := rocketmq.NewPushConsumer(append(opts, sub.raceOptions()...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot create consumer for topic %s: %w", topic, err)
	}
	sub.consumer = pc
	if err := sub.prepareShutdown(); err != nil {
		_ = pc.Shutdown()
		return nil, err
	}
	if err := pc.Subscribe(topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}, sub.consume); err != nil {
		_ = pc.Shutdown()
		return nil, fmt.Errorf("cannot subscribe consumer to topic %s: %w", topic, err)
	}
	if err := pc.Start(); err != nil {
		_ = pc.Shutdown()
		return nil, fmt.Errorf("cannot start consumer of topic %s in group %s: %w", topic, group, err)
	}
	go sub.watchHeartbeat(sub.stopWatch)
	sub.logger.Info("Subscribed to RocketMQ topic", nil)
	return sub, nil
}

// Close ends every subscription, waits until their in-flight messages are released and their channels closed,
// and shuts their consumers down. Unacked messages are not committed. Close is idempotent and safe to call while
// messages are unacked or channels unread.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.mu.Unlock()
	s.wg.Wait()
	s.logger.Debug("Subscriber closed", nil)
	return nil
}

// subscription is one Subscribe call: a push consumer and the output channel it feeds.
type subscription struct {
	s        *Subscriber
	ctx      context.Context
	topic    string
	consumer rocketmq.PushConsumer
	out      chan *message.Message
	done     chan struct{} // closed when the subscription stops handing out messages
	logger   watermill.LoggerAdapter

	group     string
	instance  string        // the consumer's client instance name
	stopWatch chan struct{} // closed to stop watchHeartbeat
	watched   chan struct{} // closed when watchHeartbeat has returned

	mu       sync.Mutex
	stopping bool
	inflight sync.WaitGroup // consume callbacks running
	gates    map[primitive.MessageQueue]*queueGate

	leave   leaveHelpers     // how the subscription leaves its group: see leave.go
	quiesce rebalanceQuiesce // race builds only: see shutdown_race.go
}

func (sub *subscription) run() {
	defer sub.s.wg.Done()
	select {
	case <-sub.ctx.Done():
	case <-sub.s.closing:
	}
	// A heartbeat kick shares the consumer's client; let it finish so that Shutdown closes the client's
	// connections, which is how the broker learns at once that this consumer left the group.
	close(sub.stopWatch)
	<-sub.watched
	// Shut the consumer down first: it drops its queues, so results of callbacks released below are discarded
	// instead of sending the messages to the retry topic, and it persists only offsets of acked messages. When it
	// returns, the client's connections are closed and nothing can register the consumer again (leave.go).
	if err := sub.shutdownConsumer(); err != nil {
		sub.logger.Error("Cannot shut down consumer", err, nil)
	}
	sub.mu.Lock()
	sub.stopping = true
	sub.mu.Unlock()
	close(sub.done)
	sub.inflight.Wait()
	close(sub.out)
	sub.logger.Info("Subscription closed", nil)
}

// consume is the client's callback for the messages of one queue (one at a time, see WithConsumeMessageBatchMaxSize).
func (sub *subscription) consume(ctx context.Context, msgs ...*primitive.MessageExt) (result consumer.ConsumeResult, err error) {
	sub.mu.Lock()
	if sub.stopping || len(msgs) == 0 {
		sub.mu.Unlock()
		return consumer.ConsumeRetryLater, nil
	}
	sub.inflight.Add(1)
	sub.mu.Unlock()
	defer sub.inflight.Done()

	mq := queueOf(ctx, msgs[0])
	gate := sub.gate(mq)
	if !gate.acquire(msgs[0].QueueOffset, sub.done) {
		return consumer.ConsumeRetryLater, nil
	}
	defer gate.release()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while handing out messages of %s: %v", mq.String(), r)
			sub.logger.Error("Recovered from panic", err, nil)
			result = consumer.ConsumeRetryLater
		}
	}()
	for _, m := range msgs {
		if !sub.deliver(m, mq.QueueId) {
			return consumer.ConsumeRetryLater, nil
		}
	}
	return consumer.ConsumeSuccess, nil
}

// deliver hands m out until it is acked (true) or the subscription ends (false), resending it after each Nack.
func (sub *subscription) deliver(m *primitive.MessageExt, queueID int) bool {
	msg, err := sub.s.config.Marshaler.Unmarshal(m)
	if err != nil {
		sub.logger.Error("Cannot unmarshal message, leaving it to the broker's retries", err,
			watermill.LogFields{"rocketmq_msg_id": m.MsgId})
		return false
	}
	fields := watermill.LogFields{"message_uuid": msg.UUID, "queue_id": queueID, "queue_offset": m.QueueOffset}
	base := withBrokerFacts(sub.ctx, m.MsgId, queueID, m.QueueOffset, m.ReconsumeTimes)
	for {
		ctx, cancel := context.WithCancel(base)
		msg.SetContext(ctx)
		select {
		case sub.out <- msg:
		case <-sub.done:
			cancel()
			return false
		}
		select {
		case <-msg.Acked():
			cancel()
			sub.logger.Trace("Message acked", fields)
			return true
		case <-msg.Nacked():
			cancel()
			sub.logger.Trace("Message nacked", fields)
		case <-sub.done:
			cancel()
			return false
		}
		if d := sub.s.config.NackResendSleep; d > 0 {
			select {
			case <-time.After(d):
			case <-sub.done:
				return false
			}
		}
		msg = msg.Copy()
	}
}

func (sub *subscription) gate(mq primitive.MessageQueue) *queueGate {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	g, ok := sub.gates[mq]
	if !ok {
		g = newQueueGate(sub.s.config.MaxInFlightPerQueue)
		sub.gates[mq] = g
	}
	return g
}

func queueOf(ctx context.Context, m *primitive.MessageExt) primitive.MessageQueue {
	if cc, ok := primitive.GetConcurrentlyCtx(ctx); ok && cc.MQ.Topic != "" {
		return cc.MQ
	}
	if m.Queue != nil {
		return *m.Queue
	}
	return primitive.MessageQueue{Topic: m.Topic}
}
