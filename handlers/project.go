package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// Names of the per-type functions the router handlers dispatch to (metadata "name" selects one). They label logs;
// they are constants so that dashboards and alerts keep working across releases.
const (
	FuncProjectProductListed = "project_product_listed"
	FuncProjectReserved      = "project_seckill_reserved"
	FuncProjectOrderPaid     = "project_seckill_order_paid"
	FuncProjectCancelled     = "project_seckill_order_cancelled"
	FuncCancelUnpaidOrder    = "cancel_unpaid_order"
)

// PaymentTimeoutName is the metadata "name" of a payment deadline message on Config.TimeoutTopic.
const PaymentTimeoutName = "PaymentTimeout"

// PaymentDeadline is one order's entry in a payment deadline message: the message's payload is a JSON array of
// them, published with a delay of Config.PaymentTimeout for the reservations projected at about the same time.
type PaymentDeadline struct {
	OrderNo   string `json:"orderNo"`
	ProductID int64  `json:"productId"`
	UserID    int64  `json:"userId"`
}

// projector holds the per-type functions. It is safe for concurrent use: its dependencies are.
type projector struct {
	store   Recorder
	settler Settler
	pub     message.Publisher
	cfg     Config
	m       *consumerMetrics
	log     watermill.LoggerAdapter
	now     func() time.Time
	funcs   map[string]func(*message.Message) error
	due     *deadlines
}

func newProjector(cfg Config, deps Deps, m *consumerMetrics, log watermill.LoggerAdapter) *projector {
	p := &projector{store: deps.Store, settler: deps.Settler, pub: deps.Publisher, cfg: cfg, m: m, log: log, now: deps.Now,
		due: &deadlines{pub: deps.Publisher, topic: cfg.TimeoutTopic, delay: cfg.PaymentTimeout, max: 512}}
	p.funcs = map[string]func(*message.Message) error{
		events.TypeProductListed:         p.projectListed,
		events.TypeSeckillReserved:       p.projectReserved,
		events.TypeSeckillOrderPaid:      p.projectPaid,
		events.TypeSeckillOrderCancelled: p.projectCancelled,
		PaymentTimeoutName:               p.cancelUnpaid,
	}
	return p
}

// handle dispatches a message to the function of its type. A type nobody knows is acknowledged (and counted):
// retrying it cannot help, and a newer producer may send types this consumer does not need.
func (p *projector) handle(msg *message.Message) error {
	name := msg.Metadata.Get(eventmsg.MetadataType)
	f, ok := p.funcs[name]
	if !ok {
		p.m.unknown.Inc()
		p.log.Info("message of unknown type acknowledged", watermill.LogFields{"message_uuid": msg.UUID, "type": name})
		return nil
	}
	return f(msg)
}

// record decodes and records the event a message carries. A payload that does not decode is a permanent error.
func (p *projector) record(msg *message.Message) (events.Event, projections.Outcome, error) {
	e, err := eventmsg.FromMessage(msg)
	if err != nil {
		return nil, 0, permanent(err)
	}
	out, err := p.store.Record(msg.Context(), e)
	if err != nil {
		return e, 0, err
	}
	p.m.recorded.WithLabelValues(e.EventType(), out.String()).Inc()
	if out == projections.Applied {
		p.m.lag.WithLabelValues(e.EventType()).Observe(p.now().Sub(e.Time()).Seconds())
	}
	return e, out, nil
}

func (p *projector) logRejected(fn string, e events.Event) {
	p.log.Info("event rejected by the projection", watermill.LogFields{"handler": fn, "event_id": e.ID(),
		"type": e.EventType(), "aggregate": e.Aggregate()})
}

func (p *projector) projectListed(msg *message.Message) error {
	e, out, err := p.record(msg)
	if err == nil && out == projections.Rejected {
		p.logRejected(FuncProjectProductListed, e)
	}
	return err
}

// projectReserved records a reservation and schedules its payment deadline, also on redelivery (a second
// deadline is harmless: cancelling an order no longer awaiting payment is a no-op). A rejected reservation (its
// product is unknown to MySQL) is logged and counted, never compensated: Redis decided, the order is the buyer's.
func (p *projector) projectReserved(msg *message.Message) error {
	e, out, err := p.record(msg)
	if err != nil {
		return err
	}
	r := e.(*events.SeckillReserved)
	if out == projections.Rejected {
		p.logRejected(FuncProjectReserved, e)
		return nil
	}
	return p.due.schedule(PaymentDeadline{OrderNo: r.OrderNo, ProductID: r.ProductID, UserID: r.UserID})
}

func (p *projector) projectPaid(msg *message.Message) error {
	e, out, err := p.record(msg)
	if err == nil && out == projections.Rejected {
		p.logRejected(FuncProjectOrderPaid, e)
	}
	return err
}

func (p *projector) projectCancelled(msg *message.Message) error {
	e, out, err := p.record(msg)
	switch {
	case err != nil:
		return err
	case out == projections.Applied:
		p.m.cancelled.WithLabelValues(e.(*events.SeckillOrderCancelled).Reason).Inc()
	case out == projections.Rejected:
		p.logRejected(FuncProjectCancelled, e)
	}
	return nil
}

// cancelUnpaid cancels the orders whose payment deadline passed; an order already paid or cancelled is left
// alone, so a message handled again (after a failure part way) cancels nothing twice.
func (p *projector) cancelUnpaid(msg *message.Message) error {
	ds, err := decodeDeadlines(msg.Payload)
	if err != nil {
		return permanent(fmt.Errorf("payment deadlines %s: bad payload %q: %v", msg.UUID, msg.Payload, err))
	}
	for _, d := range ds {
		if d.OrderNo == "" {
			return permanent(fmt.Errorf("payment deadlines %s: an entry without an order number", msg.UUID))
		}
		res, err := p.settler.CancelOrder(msg.Context(), d.ProductID, d.OrderNo, events.ReasonPaymentTimeout)
		if err != nil {
			return fmt.Errorf("cancel unpaid order %s: %w", d.OrderNo, err)
		}
		p.m.timeouts.WithLabelValues(res.Outcome.String()).Inc()
	}
	return nil
}

// decodeDeadlines reads a payment deadline message: a JSON array of deadlines, or the single deadline object of
// the first release (still in flight after an upgrade, for up to the payment timeout).
func decodeDeadlines(payload []byte) ([]PaymentDeadline, error) {
	if p := bytes.TrimSpace(payload); len(p) > 0 && p[0] == '{' {
		var d PaymentDeadline
		err := json.Unmarshal(p, &d)
		return []PaymentDeadline{d}, err
	}
	var ds []PaymentDeadline
	if err := json.Unmarshal(payload, &ds); err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, errors.New("no deadline")
	}
	return ds, nil
}

// Settler cancels orders in Redis, which arbitrates every order's state (sale.Expiry). CancelOrder must be
// idempotent and safe for concurrent use: it reports what Redis decided (schema.Settled when this call cancelled
// the order, schema.NotAwaitingPayment when it was already paid or cancelled, schema.UnknownOrder when Redis does
// not know it); an error means "try again later".
type Settler interface {
	CancelOrder(ctx context.Context, productID int64, orderNo, reason string) (schema.SettleResult, error)
}

// Recorder records an event in the event store and applies it (*projections.Store, *projections.Batcher). It
// must be safe for concurrent use and idempotent by event id.
type Recorder interface {
	Record(ctx context.Context, e events.Event) (projections.Outcome, error)
}
