package rocketmqpubsub

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

const (
	// UUIDProperty is the RocketMQ property that carries the Watermill message UUID. The UUID is also the
	// message's Keys, so `mqadmin queryMsgByKey` finds it.
	UUIDProperty = "WM_UUID"

	// EmptyPayloadProperty marks a message whose Watermill payload is empty: RocketMQ refuses empty bodies, so
	// such a message carries a one-byte placeholder body that Unmarshal drops.
	EmptyPayloadProperty = "WM_EMPTY_PAYLOAD"

	// MetadataPrefix is prepended to every metadata key, so that metadata never collides with RocketMQ system
	// properties (KEYS, TAGS, UNIQ_KEY, DELAY, ...).
	MetadataPrefix = "wm_"

	// NameMetadataKey is the metadata key of the event type (Watermill CQRS); its value is also sent as the
	// RocketMQ tag, so operators and tag subscriptions can filter on it.
	NameMetadataKey = "name"

	// MaxPropertiesBytes is the largest encoded size of the properties a marshaled message may carry. The
	// broker rejects more than 32767 bytes; the rest is left to the client's own properties.
	MaxPropertiesBytes = 30 * 1024

	// emptyMarker starts every stored value that is empty or itself starts with it, because the client drops
	// properties with empty values.
	emptyMarker = "\x00"
)

// ErrInvalidProperty is wrapped by Marshal when a UUID or metadata entry cannot be carried as a RocketMQ property.
var ErrInvalidProperty = errors.New("invalid property")

// Marshaler converts between Watermill and RocketMQ messages. Implementations must be safe for concurrent use.
type Marshaler interface {
	// Marshal builds the RocketMQ message for msg on topic. It must not modify msg.
	Marshal(topic string, msg *message.Message) (*primitive.Message, error)
	// Unmarshal builds the Watermill message of a received RocketMQ message.
	Unmarshal(msg *primitive.MessageExt) (*message.Message, error)
}

// DefaultMarshaler keeps the payload as the body (see EmptyPayloadProperty), the UUID in UUIDProperty (and as Keys) and every metadata entry
// in a property named MetadataPrefix+key. Empty values survive; keys or values the RocketMQ property encoding
// cannot carry (containing \x01 or \x02, invalid UTF-8, or beyond MaxPropertiesBytes in total) are rejected
// with ErrInvalidProperty rather than altered. The metadata "name" is also the tag. Safe for concurrent use.
type DefaultMarshaler struct{}

// Marshal implements Marshaler.
func (DefaultMarshaler) Marshal(topic string, msg *message.Message) (*primitive.Message, error) {
	props := make(map[string]string, len(msg.Metadata)+1)
	size := 0
	add := func(key, value string) error {
		if err := checkProperty(key, value); err != nil {
			return err
		}
		if value == "" || strings.HasPrefix(value, emptyMarker) {
			value = emptyMarker + value
		}
		size += len(key) + len(value) + 2
		props[key] = value
		return nil
	}
	if err := add(UUIDProperty, msg.UUID); err != nil {
		return nil, fmt.Errorf("message uuid: %w", err)
	}
	for k, v := range msg.Metadata {
		if err := add(MetadataPrefix+k, v); err != nil {
			return nil, fmt.Errorf("metadata %q of message %s: %w", k, msg.UUID, err)
		}
	}
	if size > MaxPropertiesBytes {
		return nil, fmt.Errorf("metadata of message %s encodes to %d bytes, more than %d: %w",
			msg.UUID, size, MaxPropertiesBytes, ErrInvalidProperty)
	}
	body := msg.Payload
	if len(body) == 0 {
		body = []byte{0}
		props[EmptyPayloadProperty] = "1"
	}
	out := primitive.NewMessage(topic, body)
	out.WithProperties(props)
	if msg.UUID != "" {
		out.WithKeys([]string{msg.UUID})
	}
	if name := msg.Metadata.Get(NameMetadataKey); name != "" && !strings.ContainsAny(name, "| ") {
		out.WithTag(name)
	}
	return out, nil
}

// Unmarshal implements Marshaler. Properties without MetadataPrefix (the broker's and client's own) are not
// copied into the metadata; a missing UUIDProperty gives an empty UUID.
func (DefaultMarshaler) Unmarshal(msg *primitive.MessageExt) (*message.Message, error) {
	props := msg.GetProperties()
	payload := msg.Body
	if props[EmptyPayloadProperty] != "" {
		payload = nil
	}
	out := message.NewMessage(decodeValue(props[UUIDProperty]), payload)
	for k, v := range props {
		if key, ok := strings.CutPrefix(k, MetadataPrefix); ok {
			out.Metadata[key] = decodeValue(v)
		}
	}
	return out, nil
}

func decodeValue(v string) string {
	if strings.HasPrefix(v, emptyMarker) {
		return v[len(emptyMarker):]
	}
	return v
}

func checkProperty(key, value string) error {
	for _, s := range [2]string{key, value} {
		if strings.ContainsAny(s, "\x01\x02") {
			return fmt.Errorf("%q contains a RocketMQ property separator (\\x01 or \\x02): %w", s, ErrInvalidProperty)
		}
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not valid UTF-8: %w", s, ErrInvalidProperty)
		}
	}
	if len(key)+len(value)+2 > MaxPropertiesBytes {
		return fmt.Errorf("property %q is %d bytes, more than %d: %w", key, len(key)+len(value)+2,
			MaxPropertiesBytes, ErrInvalidProperty)
	}
	return nil
}
