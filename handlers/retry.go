package handlers

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
)

// Metadata keys the retry step and the DLQ add to a message.
const (
	// MetadataRetries is how many broker-delayed retries a message has had (absent: none).
	MetadataRetries = "seckill_retries"
	// MetadataOriginalTopic is the topic the message was first consumed from; redrive publishes it there.
	MetadataOriginalTopic = "seckill_original_topic"
	// MetadataParkedAt is when the message was given up (RFC 3339, UTC).
	MetadataParkedAt = "seckill_parked_at"
)

// parkError marks a failure that sends the message to the DLQ: its retries are exhausted, or retrying cannot help.
type parkError struct{ err error }

func (e parkError) Error() string { return e.err.Error() }
func (e parkError) Unwrap() error { return e.err }

func shouldPark(err error) bool {
	var p parkError
	return errors.As(err, &p)
}

// permanentError marks an error that no retry can fix (a payload that does not decode).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// retryLater is RocketMQ's retry schedule as router middleware. It sits inside the PoisonQueue and outside the
// quick in-process retries. When a message still fails, it publishes a copy to the retry topic with the next
// delay of the schedule, the retry count and the original topic in its metadata, and acknowledges the original,
// so one failing message never blocks the ones behind it and a restart loses no count. When the schedule is used
// up, or the error is permanent, it returns a parkError, which the PoisonQueue (filtered on it) sends to the DLQ.
// A failed publish, or a message whose context ended (shutdown), is a plain error: the broker redelivers it.
type retryLater struct {
	pub      message.Publisher
	topic    string
	schedule []time.Duration
	now      func() time.Time
	retries  *prometheus.CounterVec
}

func (r retryLater) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err == nil || msg.Context().Err() != nil {
			return out, err
		}
		n, _ := strconv.Atoi(msg.Metadata.Get(MetadataRetries))
		if msg.Metadata.Get(MetadataOriginalTopic) == "" {
			msg.Metadata.Set(MetadataOriginalTopic, message.SubscribeTopicFromCtx(msg.Context()))
		}
		var perm permanentError
		if n >= len(r.schedule) || errors.As(err, &perm) {
			delete(msg.Metadata, delay.DelayedForKey)
			delete(msg.Metadata, delay.DelayedUntilKey)
			msg.Metadata.Set(MetadataRetries, strconv.Itoa(n))
			msg.Metadata.Set(MetadataParkedAt, r.now().UTC().Format(time.RFC3339Nano))
			return nil, parkError{err}
		}
		next := msg.Copy()
		next.Metadata.Set(MetadataRetries, strconv.Itoa(n+1))
		delay.Message(next, delay.For(r.schedule[n]))
		if perr := r.pub.Publish(r.topic, next); perr != nil {
			return nil, errors.Join(err, fmt.Errorf("requeue message %s to %s: %w", msg.UUID, r.topic, perr))
		}
		r.retries.WithLabelValues(message.HandlerNameFromCtx(msg.Context())).Inc()
		return nil, nil
	}
}
