package handlers

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/schema"
)

// RedisSettler cancels orders with schema.Settle: the stock and the buyer mark go back to Redis and the
// SeckillOrderCancelled event goes to the product's outbox. With a Publisher it then publishes that event at once
// and removes it from the outbox (the fast path of the buy endpoint); without one, or if publishing fails, the
// outbox relay publishes it. It is safe for concurrent use and idempotent: an order already paid or cancelled,
// or unknown to Redis, is left alone.
type RedisSettler struct {
	RDB redis.Cmdable
	// Publisher and Topic, when set, publish the cancellation at once.
	Publisher message.Publisher
	Topic     string
	// Now is the clock of the cancellation event; nil means time.Now.
	Now func() time.Time
}

// CancelOrder cancels an order awaiting payment, with a new event id, and returns what Settle decided. An error
// means Redis did not answer: the order may or may not be cancelled, and calling again is safe.
func (s RedisSettler) CancelOrder(ctx context.Context, productID int64, orderNo, reason string) (schema.SettleResult, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at, id := now(), uuid.NewString()
	res, err := schema.Settle(ctx, s.RDB, productID, orderNo, schema.StateCancelled, reason, id, at)
	if err != nil || res.Outcome != schema.Settled || s.Publisher == nil {
		return res, err
	}
	msg, err := eventmsg.ToMessage(schema.SettledEvent(productID, orderNo, schema.StateCancelled, reason, id, at, res))
	if err != nil {
		return res, nil // the relay reads the entry from the outbox and reports it
	}
	if s.Publisher.Publish(s.Topic, msg) == nil {
		_ = schema.AckOutbox(ctx, s.RDB, productID, res.OutboxID) // an entry left behind is published again: a duplicate
	}
	return res, nil
}
