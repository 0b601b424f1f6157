package rocketmqpubsub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// ErrPublisherClosed is returned by Publish after Close.
var ErrPublisherClosed = errors.New("publisher closed")

// Publisher publishes Watermill messages to RocketMQ synchronously. It is safe for concurrent use.
type Publisher struct {
	config   PublisherConfig
	logger   watermill.LoggerAdapter
	producer rocketmq.Producer

	mu     sync.RWMutex // held for reading by every Publish, for writing by Close
	closed bool
}

// NewPublisher starts a producer with its own client instance. logger may be nil.
func NewPublisher(config PublisherConfig, logger watermill.LoggerAdapter) (*Publisher, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, fmt.Errorf("invalid publisher config: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	instance := "wm-pub-" + watermill.NewShortUUID()
	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver(config.NameServers)),
		producer.WithGroupName(config.GroupName),
		producer.WithInstanceName(instance),
		producer.WithRetry(config.Retries),
		producer.WithSendMsgTimeout(config.SendTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("cannot create producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("cannot start producer: %w", err)
	}
	return &Publisher{
		config:   config,
		producer: p,
		logger:   logger.With(watermill.LogFields{"provider": "rocketmq", "producer_instance": instance}),
	}, nil
}

// Publish sends msgs to topic and returns when the broker has stored all of them, or with the first error
// (messages before it stay published). Consecutive messages without a delay go out in batches of up to
// BatchMaxMessages/BatchMaxBytes, each batch to one queue. A message carrying Watermill delay metadata
// (components/delay) is sent alone as a RocketMQ timer message. Each send honours the earliest deadline of its
// messages' contexts. Safe for concurrent use; Close waits for running calls.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrPublisherClosed
	}
	if err := ValidateTopic(topic); err != nil {
		return err
	}
	now := time.Now()
	out := make([]*primitive.Message, len(msgs))
	for i, msg := range msgs {
		m, err := p.config.Marshaler.Marshal(topic, msg)
		if err != nil {
			return fmt.Errorf("cannot marshal message %s: %w", msg.UUID, err)
		}
		if at, ok := deliverAt(msg.Metadata, now); ok {
			m.WithDelayTimestamp(at)
		}
		out[i] = m
	}

	start, size := 0, 0
	for i, m := range out {
		if delayed(m) {
			if err := p.send(topic, msgs[start:i], out[start:i]); err != nil {
				return err
			}
			if err := p.send(topic, msgs[i:i+1], out[i:i+1]); err != nil {
				return err
			}
			start, size = i+1, 0
			continue
		}
		n := encodedSize(m)
		if i > start && (i-start >= p.config.BatchMaxMessages || size+n > p.config.BatchMaxBytes) {
			if err := p.send(topic, msgs[start:i], out[start:i]); err != nil {
				return err
			}
			start, size = i, 0
		}
		size += n
	}
	return p.send(topic, msgs[start:], out[start:])
}

func (p *Publisher) send(topic string, msgs []*message.Message, out []*primitive.Message) error {
	if len(out) == 0 {
		return nil
	}
	if len(out) > 1 {
		for _, m := range out {
			// The client sets no unique key on batched messages; without it their message id is the offset id.
			m.WithProperty(primitive.PropertyUniqueClientMessageIdKeyIndex, primitive.CreateUniqID())
		}
	}
	ctx, cancel := sendContext(msgs)
	defer cancel()
	res, err := p.sendRouted(ctx, out)
	if err != nil {
		return fmt.Errorf("cannot send %d message(s) to %s (first %s): %w", len(out), topic, msgs[0].UUID, err)
	}
	if res.Status != primitive.SendOK {
		return fmt.Errorf("cannot send %d message(s) to %s (first %s): broker status %d", len(out), topic,
			msgs[0].UUID, res.Status)
	}
	p.logger.Trace("Messages published", watermill.LogFields{
		"topic": topic, "count": len(out), "first_message_uuid": msgs[0].UUID, "queue_id": res.MessageQueue.QueueId,
	})
	return nil
}

// sendRouted sends out, and while the client finds no route to the topic it tries again, after pauses growing
// from 50 ms to 1 s, the last one at RouteWait, unless ctx ends first.
func (p *Publisher) sendRouted(ctx context.Context, out []*primitive.Message) (*primitive.SendResult, error) {
	giveUp := time.Now().Add(p.config.RouteWait)
	pause := 50 * time.Millisecond
	for {
		res, err := p.producer.SendSync(ctx, out...)
		left := time.Until(giveUp)
		if err == nil || !noRoute(err) || left <= 0 {
			return res, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(pause, left)):
		}
		pause = min(2*pause, time.Second)
	}
}

// noRoute reports the client's error for a topic it found no queue of: "the topic=... route info not found".
// It returns that error when the NameServer did not answer too, so the cause is not known.
func noRoute(err error) bool { return strings.Contains(err.Error(), "route info not found") }

// sendContext returns a context with the earliest deadline of msgs' contexts, cancelled when any of them is.
func sendContext(msgs []*message.Message) (context.Context, context.CancelFunc) {
	if len(msgs) == 1 {
		return context.WithCancel(msgs[0].Context())
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	stops := make([]func() bool, 0, len(msgs))
	var earliest time.Time
	for _, m := range msgs {
		mctx := m.Context()
		if d, ok := mctx.Deadline(); ok && (earliest.IsZero() || d.Before(earliest)) {
			earliest = d
		}
		if mctx.Done() != nil {
			stops = append(stops, context.AfterFunc(mctx, func() { cancel(context.Cause(mctx)) }))
		}
	}
	release := func() {
		for _, stop := range stops {
			stop()
		}
		cancel(nil)
	}
	if earliest.IsZero() {
		return ctx, release
	}
	dctx, dcancel := context.WithDeadline(ctx, earliest)
	return dctx, func() { dcancel(); release() }
}

func delayed(m *primitive.Message) bool {
	return m.GetProperty(primitive.PropertyTimerDeliverMS) != "" || m.GetProperty(primitive.PropertyDelayTimeLevel) != ""
}

// encodedSize is the size of m inside a batch body (see producer.MarshalMessageBatch).
func encodedSize(m *primitive.Message) int {
	return 20 + len(m.Body) + 2 + len(m.MarshallProperties())
}

// deliverAt reads Watermill's delay metadata. DelayedUntilKey has whole-second precision, so now+DelayedForKey
// is used when it falls within that second (the message was published right after it was delayed).
func deliverAt(md message.Metadata, now time.Time) (time.Time, bool) {
	until, untilErr := time.Parse(time.RFC3339, md.Get(delay.DelayedUntilKey))
	forD, forErr := time.ParseDuration(md.Get(delay.DelayedForKey))
	var at time.Time
	switch {
	case untilErr == nil && forErr == nil:
		at = until
		if precise := now.Add(forD); !precise.Before(until) && precise.Before(until.Add(time.Second)) {
			at = precise
		}
	case untilErr == nil:
		at = until
	case forErr == nil:
		at = now.Add(forD)
	default:
		return time.Time{}, false
	}
	if !at.After(now) {
		return time.Time{}, false
	}
	return at, true
}

// Close stops the producer after running Publish calls have returned. It is idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.producer.Shutdown(); err != nil {
		return fmt.Errorf("cannot shut down producer: %w", err)
	}
	return nil
}
