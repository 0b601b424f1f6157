package sale

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

// Reservation is what a buyer gets for stock taken: the answer of POST /seckill/kill.
type Reservation struct {
	OrderNo        string `json:"orderNo"`
	UserID         int64  `json:"userId"`
	ProductID      int64  `json:"productId"`
	Quantity       int64  `json:"quantity"`
	RemainingStock int64  `json:"remainingStock"`
}

// Reserve takes qty units of a product for a buyer: the rate limit, the sold-out cache, then one Redis script
// decides (schema.Reserver: in one call with the buyers of the product who arrived meanwhile), and the SeckillReserved event it appended to the product's outbox is handed to the Deliverer (the
// relay publishes it if that fails). A quantity outside 1..MaxPerUser is ErrInvalid; the script's refusals are
// ErrNotFound, ErrNotStarted, ErrEnded, ErrAlreadyBought and ErrSoldOut, a buyer over the rate ErrRateLimited,
// and a Redis failure ErrUnavailable (nothing reserved) or ErrOutcomeUnknown (Result tells).
//
// Not idempotent: each call is a new attempt with a new event id, but a buyer holds at most one order per
// product, so a repeated call after a success is ErrAlreadyBought.
func (s *Service) Reserve(ctx context.Context, buyer, productID, qty int64) (*Reservation, error) {
	if qty < 1 || qty > s.cfg.MaxPerUser {
		return nil, fail(ErrInvalid, "quantity: must be an integer from 1 to %d", s.cfg.MaxPerUser)
	}
	now := s.deps.Now()
	if s.limiter != nil && !s.limiter.allow(buyer, now) {
		s.metrics.reserved(outcomeRateLimited)
		return nil, fail(ErrRateLimited, "user %d: too many requests, slow down", buyer)
	}
	if err := s.soldOut.known(productID, now); err != nil {
		s.metrics.reserved(outcomeSoldOutCached)
		return nil, err
	}
	eventID := s.deps.NewID()
	res, err := s.reserver.Reserve(ctx, productID, schema.ReserveRequest{UserID: buyer, Quantity: qty, EventID: eventID, Now: now})
	if err != nil {
		f := scriptFailure(fmt.Errorf("reserve product %d for user %d (event %s): %w", productID, buyer, eventID, err),
			"reservation", "nothing was reserved")
		switch {
		case f.Kind == ErrOutcomeUnknown:
			s.metrics.reserved(outcomeRedisUnknown)
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			// Dropped before its turn: Redis was not at fault (the SeckillRedisDown alert reads redis_down).
			s.metrics.reserved(outcomeAbandoned)
		default:
			s.metrics.reserved(outcomeRedisDown)
		}
		return nil, f
	}
	s.metrics.reserved(res.Outcome.String())
	switch res.Outcome {
	case schema.Reserved:
	case schema.UnknownProduct:
		return nil, fail(ErrNotFound, "product %d not found", productID)
	case schema.NotStarted:
		return nil, fail(ErrNotStarted, "product %d: the sale has not started", productID)
	case schema.Ended:
		return nil, fail(ErrEnded, "product %d: the sale has ended", productID)
	case schema.AlreadyBought:
		return nil, fail(ErrAlreadyBought, "user %d already holds order %s for product %d", buyer, res.OrderNo, productID)
	case schema.SoldOut:
		if res.Stock == 0 {
			s.soldOut.mark(productID, now)
		}
		return nil, fail(ErrSoldOut, "product %d is sold out (stock %d, wanted %d)", productID, res.Stock, qty)
	default:
		return nil, fmt.Errorf("reserve product %d: unexpected outcome %v", productID, res.Outcome)
	}
	name, price, err := s.saleInfo(ctx, productID)
	if err == nil {
		s.deps.Outbox.Deliver(ctx, productID, res.OutboxID,
			schema.ReservedEvent(productID, buyer, qty, eventID, now, res, name, price))
	}
	// Without the product's name and price the event is left to the outbox relay, which reads it whole.
	return &Reservation{OrderNo: res.OrderNo, UserID: buyer, ProductID: productID, Quantity: qty, RemainingStock: res.Stock}, nil
}

// saleInfo returns a product's name and price from Redis. Both are immutable once listed, so they are cached.
func (s *Service) saleInfo(ctx context.Context, productID int64) (string, events.Money, error) {
	if i, ok := s.info.get(productID); ok {
		return i.name, i.price, nil
	}
	vals, err := s.deps.Redis.HMGet(ctx, schema.KeysFor(productID).Info, "name", "price").Result()
	if err != nil {
		return "", 0, fmt.Errorf("read product %d: %w", productID, err)
	}
	name, _ := vals[0].(string)
	cents, _ := vals[1].(string)
	p, err := strconv.ParseInt(cents, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("product %d has no price in redis", productID)
	}
	s.info.put(productID, saleInfo{name: name, price: events.Money(p)})
	return name, events.Money(p), nil
}

type saleInfo struct {
	name  string
	price events.Money
}
