// Package eventmsg carries events over Watermill: one event per message, the message UUID the event id, the event
// type in the metadata and the JSON payload of package events. It is the only place that ties events to Watermill;
// its functions are pure and safe for concurrent use.
package eventmsg

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/seckill/seckill/events"
)

// MetadataType is the message metadata key that carries the event type (Watermill's cqrs key).
const MetadataType = "name"

// ToMessage wraps an event for the broker: message UUID = event id, metadata "name" = event type, payload = JSON.
func ToMessage(e events.Event) (*message.Message, error) {
	payload, err := events.Encode(e)
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(e.ID(), payload)
	msg.Metadata.Set(MetadataType, e.EventType())
	return msg, nil
}

// FromMessage decodes the event a message carries and checks that its UUID is the event id.
func FromMessage(msg *message.Message) (events.Event, error) {
	e, err := events.Decode(msg.Metadata.Get(MetadataType), msg.Payload)
	if err != nil {
		return nil, fmt.Errorf("message %s: %w", msg.UUID, err)
	}
	if e.ID() != msg.UUID {
		return nil, fmt.Errorf("message %s carries event %s: the message UUID must be the event id", msg.UUID, e.ID())
	}
	return e, nil
}
