package handlers

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
)

// RedisSettler cancels orders with schema.Settle: the stock and the buyer mark go back to Redis and the
// SeckillOrderCancelled event goes to the product's outbox, from which the outbox relay publishes it. It is safe
// for concurrent use and idempotent: an order already paid or cancelled, or unknown to Redis, is left alone.
type RedisSettler struct {
	RDB redis.Scripter
	// Now is the clock of the cancellation event; nil means time.Now.
	Now func() time.Time
}

// CancelOrder cancels an order awaiting payment, with a new event id.
func (s RedisSettler) CancelOrder(ctx context.Context, productID int64, orderNo, reason string) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	_, err := schema.Settle(ctx, s.RDB, productID, orderNo, schema.StateCancelled, reason, uuid.NewString(), now())
	return err
}
