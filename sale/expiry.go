package sale

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/schema"
)

// Expiry cancels the orders whose payment deadline passed (the consumers' handlers.Settler): the stock and the
// buyer mark go back to Redis and the SeckillOrderCancelled event goes to the product's outbox. With a Publisher
// it then publishes that event at once and removes it from the outbox; without one, or if publishing fails, the
// outbox relay publishes it. It is safe for concurrent use and idempotent: an order already paid or cancelled,
// or unknown to Redis, is left alone.
type Expiry struct {
	RDB redis.Cmdable
	// Publisher and Topic, when set, publish the cancellation at once.
	Publisher message.Publisher
	Topic     string
	// Now is the clock of the cancellation event; nil means time.Now.
	Now func() time.Time
}

// CancelOrder cancels an order awaiting payment, with a new event id, and returns what Settle decided. An error
// means Redis did not answer: the order may or may not be cancelled, and calling again is safe.
func (x Expiry) CancelOrder(ctx context.Context, productID int64, orderNo, reason string) (schema.SettleResult, error) {
	now := time.Now
	if x.Now != nil {
		now = x.Now
	}
	at, id := now(), uuid.NewString()
	res, err := schema.Settle(ctx, x.RDB, productID, orderNo, schema.Cancelled(reason), id, at)
	if err != nil || res.Outcome != schema.Settled || x.Publisher == nil {
		return res, err
	}
	msg, err := eventmsg.ToMessage(schema.SettledEvent(productID, orderNo, schema.Cancelled(reason), id, at, res))
	if err != nil {
		return res, nil // the relay reads the entry from the outbox and reports it
	}
	if x.Publisher.Publish(x.Topic, msg) == nil {
		_ = schema.AckOutbox(ctx, x.RDB, productID, res.OutboxID) // an entry left behind is published again: a duplicate
	}
	return res, nil
}
