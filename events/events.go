// Package events defines the facts of a flash sale, their type names and their JSON encoding.
//
// An event type, once released, is only ever extended: a new field is optional and documents what its absence
// means; nothing is renamed or retyped. The golden payloads in testdata/ are decoded by a test to hold that rule.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Type names, stored in tb_event.event_type and carried in the message metadata key "name". They are constants,
// never derived from Go type names, so renaming a struct never renames a stored event.
const (
	TypeProductListed         = "ProductListed"
	TypeSeckillReserved       = "SeckillReserved"
	TypeSeckillOrderPaid      = "SeckillOrderPaid"
	TypeSeckillOrderCancelled = "SeckillOrderCancelled"
)

// DefaultTopic is the broker topic the events travel on, from the outbox to the consumers, unless configured
// otherwise (SECKILL_TOPIC).
const DefaultTopic = "seckill-topic"

// Cancellation reasons carried by SeckillOrderCancelled.
const (
	ReasonUser           = "user"
	ReasonPaymentTimeout = "payment_timeout"
	ReasonRejected       = "rejected"
)

// Reasons lists every cancellation reason, in a stable order (metrics pre-create one series per reason).
var Reasons = []string{ReasonUser, ReasonPaymentTimeout, ReasonRejected}

// Event is one fact of the event store. Implementations are pointers to plain structs (*SeckillReserved, ...), the
// only form Decode returns and the only one that implements Event, so a type switch has one case per event. An
// event is not modified once built and is then safe to share.
type Event interface {
	// EventType is the stored type name (one of the Type constants).
	EventType() string
	// ID is the event id: a UUID, the Watermill message UUID and tb_event.event_id.
	ID() string
	// Aggregate is the id of what the event is about (tb_event.aggregate_id): a product id or an order number.
	Aggregate() string
	// Time is when the fact happened (tb_event.occurred_at).
	Time() time.Time
}

// ErrUnknownType is returned by Decode for a type name that is not in the registry.
var ErrUnknownType = errors.New("unknown event type")

// registry maps every released type name to a constructor of its zero value. It is the only list of types:
// the live handlers and seckill replay decode through it.
var registry = map[string]func() Event{
	TypeProductListed:         func() Event { return &ProductListed{} },
	TypeSeckillReserved:       func() Event { return &SeckillReserved{} },
	TypeSeckillOrderPaid:      func() Event { return &SeckillOrderPaid{} },
	TypeSeckillOrderCancelled: func() Event { return &SeckillOrderCancelled{} },
}

// Types returns every registered type name, sorted.
func Types() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Decode turns a stored or received payload into its event. It returns a pointer to the concrete struct
// (*SeckillReserved, ...). Unknown fields are ignored so that newer payloads still decode in older code.
func Decode(eventType string, payload []byte) (Event, error) {
	newEvent, ok := registry[eventType]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, eventType)
	}
	e := newEvent()
	if err := json.Unmarshal(payload, e); err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	if e.ID() == "" {
		return nil, fmt.Errorf("decode %s: missing eventId", eventType)
	}
	return e, nil
}

// Encode returns the JSON payload of an event.
func Encode(e Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", e.EventType(), e.ID(), err)
	}
	return b, nil
}
