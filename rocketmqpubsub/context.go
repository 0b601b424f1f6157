package rocketmqpubsub

import "context"

type contextKey int

const (
	messageIDKey contextKey = iota
	queueIDKey
	queueOffsetKey
	reconsumeTimesKey
)

func withBrokerFacts(ctx context.Context, msgID string, queueID int, offset int64, reconsume int32) context.Context {
	ctx = context.WithValue(ctx, messageIDKey, msgID)
	ctx = context.WithValue(ctx, queueIDKey, queueID)
	ctx = context.WithValue(ctx, queueOffsetKey, offset)
	return context.WithValue(ctx, reconsumeTimesKey, reconsume)
}

// MessageIDFromCtx returns the RocketMQ message id (the client's unique key) of a received message.
func MessageIDFromCtx(ctx context.Context) (string, bool) {
	v, ok := ctx.Value(messageIDKey).(string)
	return v, ok
}

// QueueIDFromCtx returns the id of the queue a received message was read from.
func QueueIDFromCtx(ctx context.Context) (int, bool) {
	v, ok := ctx.Value(queueIDKey).(int)
	return v, ok
}

// QueueOffsetFromCtx returns the offset of a received message in its queue.
func QueueOffsetFromCtx(ctx context.Context) (int64, bool) {
	v, ok := ctx.Value(queueOffsetKey).(int64)
	return v, ok
}

// ReconsumeTimesFromCtx returns how often the broker has redelivered a received message through the group's
// retry topic (local Nack redeliveries do not count).
func ReconsumeTimesFromCtx(ctx context.Context) (int32, bool) {
	v, ok := ctx.Value(reconsumeTimesKey).(int32)
	return v, ok
}
