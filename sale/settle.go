package sale

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

// Settlement is a settled order: the answer of POST /seckill/orders/{orderNo}/pay and /cancel.
type Settlement struct {
	OrderNo string `json:"orderNo"`
	Status  int    `json:"status"`
}

// Pay pays an order of the buyer. Not idempotent in its answer: paying a paid order is ErrNotSettleable (the
// order stays paid). An order of another buyer is ErrNotFound, like an unknown one; a Redis failure is
// ErrUnavailable (nothing changed) or ErrOutcomeUnknown (Result tells).
func (s *Service) Pay(ctx context.Context, buyer int64, orderNo string) (*Settlement, error) {
	return s.settle(ctx, buyer, orderNo, schema.Paid)
}

// Cancel gives an order of the buyer up: its stock returns and the sold-out cache of its product is cleared.
// Errors and idempotency as Pay's.
func (s *Service) Cancel(ctx context.Context, buyer int64, orderNo string) (*Settlement, error) {
	return s.settle(ctx, buyer, orderNo, schema.Cancelled(events.ReasonUser))
}

// settle pays or cancels an order of the buyer. The order's buyer is read from Redis before the settle script
// runs; it never changes once reserved, so the check cannot go stale.
func (s *Service) settle(ctx context.Context, buyer int64, orderNo string, target schema.Target) (*Settlement, error) {
	productID, ok := productOfOrder(orderNo)
	if !ok {
		return nil, fail(ErrNotFound, "order %s not found", orderNo)
	}
	order, known, err := schema.ReadOrder(ctx, s.deps.Redis, productID, orderNo)
	if err != nil {
		return nil, unavailable(fmt.Errorf("read the buyer of order %s: %w", orderNo, err),
			"redis unavailable: nothing changed, try again")
	}
	if !known || order.UserID != buyer {
		return nil, fail(ErrNotFound, "order %s not found", orderNo)
	}
	now := s.deps.Now()
	eventID := s.deps.NewID()
	res, err := schema.Settle(ctx, s.deps.Scripts, productID, orderNo, target, eventID, now)
	if err != nil {
		op := "payment"
		if target.State == schema.StateCancelled {
			op = "cancellation"
		}
		return nil, scriptFailure(fmt.Errorf("settle order %s (event %s): %w", orderNo, eventID, err), op, "nothing changed")
	}
	switch res.Outcome {
	case schema.Settled:
	case schema.UnknownOrder:
		return nil, fail(ErrNotFound, "order %s not found", orderNo)
	case schema.NotAwaitingPayment:
		verb := map[int]string{schema.StatePaid: "payable", schema.StateCancelled: "cancellable"}[target.State]
		return nil, fail(ErrNotSettleable, "order %s is not %s: it is already %s", orderNo, verb,
			strings.ToLower(statusName(res.State)))
	default:
		return nil, fmt.Errorf("settle order %s: unexpected outcome %v", orderNo, res.Outcome)
	}
	if target.State == schema.StateCancelled {
		s.soldOut.clear(productID)
	}
	s.deps.Outbox.Deliver(ctx, productID, res.OutboxID, schema.SettledEvent(productID, orderNo, target, eventID, now, res))
	return &Settlement{OrderNo: orderNo, Status: target.State}, nil
}

// productOfOrder reads the product id out of an order number "SK<productId>-<seq>".
func productOfOrder(orderNo string) (int64, bool) {
	rest, ok := strings.CutPrefix(orderNo, "SK")
	if !ok {
		return 0, false
	}
	pid, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(pid, 10, 64)
	return id, err == nil && id > 0
}

func statusName(status int) string {
	switch status {
	case schema.StatePaid:
		return "PAID"
	case schema.StateCancelled:
		return "CANCELLED"
	}
	return "CREATED"
}
