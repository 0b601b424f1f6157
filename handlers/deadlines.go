package handlers

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/seckill/seckill/eventmsg"
)

// deadlines publishes the payment deadlines of reservations projected at the same time in one delayed message:
// RocketMQ cannot batch delayed messages, and one timer message per order would double the broker's work during
// a sale. The first caller publishes what is pending and keeps publishing while more arrives (group commit); the
// others wait for the batch that carries their deadline, so a handler acks its reservation only once the deadline
// is stored by the broker. Safe for concurrent use.
type deadlines struct {
	pub   message.Publisher
	topic string
	delay time.Duration
	max   int

	mu       sync.Mutex
	pending  []deadlineRequest
	flushing bool
}

type deadlineRequest struct {
	deadline PaymentDeadline
	done     chan error
}

// schedule stores the deadline of one order, to fire after the configured delay, and returns once it is
// published (or failed to be).
func (b *deadlines) schedule(d PaymentDeadline) error {
	req := deadlineRequest{deadline: d, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, req)
	if b.flushing {
		b.mu.Unlock()
		return <-req.done
	}
	b.flushing = true
	for len(b.pending) > 0 {
		n := min(len(b.pending), b.max)
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		err := b.publish(batch)
		for _, r := range batch {
			r.done <- err
		}
		b.mu.Lock()
	}
	b.flushing = false
	b.mu.Unlock()
	return <-req.done
}

func (b *deadlines) publish(batch []deadlineRequest) error {
	ds := make([]PaymentDeadline, len(batch))
	for i, r := range batch {
		ds[i] = r.deadline
	}
	payload, err := json.Marshal(ds)
	if err != nil {
		return fmt.Errorf("payment deadlines: %w", err)
	}
	msg := message.NewMessage(watermill.NewUUID(), payload)
	msg.Metadata.Set(eventmsg.MetadataType, PaymentTimeoutName)
	delay.Message(msg, delay.For(b.delay))
	if err := b.pub.Publish(b.topic, msg); err != nil {
		return fmt.Errorf("publish %d payment deadlines (first order %s): %w", len(ds), ds[0].OrderNo, err)
	}
	return nil
}
