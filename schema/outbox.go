package schema

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
)

// OutboxEntry is one event the Lua scripts appended to a product's outbox stream, not yet confirmed as stored
// by RocketMQ. StreamID is its stream id (its first part is the Redis time of the append, in ms). An entry that
// cannot be turned into an event has a nil Event and Err wrapping ErrBadOutboxEntry; Fields holds its raw
// fields, for ParkOutbox.
type OutboxEntry struct {
	StreamID string
	Event    events.Event
	Err      error
	Fields   map[string]any
}

// OutboxDeadKey is the stream where ParkOutbox keeps a product's undecodable outbox entries (same hash tag as
// the product's other keys).
func OutboxDeadKey(productID int64) string { return KeysFor(productID).Outbox + ":dead" }

// ParkOutbox moves an entry that cannot be published from a product's outbox to its dead-letter stream
// (OutboxDeadKey), with its original fields plus "stream_id" and "reason", in one MULTI/EXEC: the entry is never
// both parked and waiting, nor neither. Parking an entry already parked adds a second copy; the relay parks an
// entry once, as it leaves the outbox in the same step.
func ParkOutbox(ctx context.Context, rdb redis.Cmdable, productID int64, e OutboxEntry, reason string) error {
	vals := make(map[string]any, len(e.Fields)+2)
	for k, v := range e.Fields {
		vals[k] = v
	}
	vals["stream_id"], vals["reason"] = e.StreamID, reason
	pipe := rdb.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: OutboxDeadKey(productID), Values: vals})
	pipe.XDel(ctx, KeysFor(productID).Outbox, e.StreamID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("park outbox entry %s of product %d: %w", e.StreamID, productID, err)
	}
	return nil
}

// RelayLeaseKey is the key of the lease that names the one outbox relay walking a product's outbox (same hash
// tag as the product's other keys).
func RelayLeaseKey(productID int64) string { return KeysFor(productID).Outbox + ":relay" }

// relayLeaseScript takes the lease (KEYS[1]) for owner ARGV[1] for ARGV[2] ms when it is free or already the
// owner's, and answers 1; it answers 0 while another owner holds it.
var relayLeaseScript = redis.NewScript(`local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

// relayReleaseScript ends the lease (KEYS[1]) if owner ARGV[1] holds it.
var relayReleaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// RelayLease takes or renews, for ttl, the lease of owner on the relay of a product's outbox, and reports
// whether owner holds it. Of any number of instances asking at once one holds it until it releases it
// (ReleaseRelayLease) or stops renewing it for ttl (it died); the others skip the product meanwhile. The lease
// only saves work: an entry relayed by two instances is the same event twice, which the projections record once.
func RelayLease(ctx context.Context, rdb redis.Scripter, productID int64, owner string, ttl time.Duration) (bool, error) {
	n, err := relayLeaseScript.Run(ctx, rdb, []string{RelayLeaseKey(productID)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("relay lease of product %d: %w", productID, err)
	}
	return n == 1, nil
}

// ReleaseRelayLease ends owner's lease on the relay of a product's outbox; a lease another owner holds (or none)
// is left as it is.
func ReleaseRelayLease(ctx context.Context, rdb redis.Scripter, productID int64, owner string) error {
	if err := relayReleaseScript.Run(ctx, rdb, []string{RelayLeaseKey(productID)}, owner).Err(); err != nil {
		return fmt.Errorf("release relay lease of product %d: %w", productID, err)
	}
	return nil
}

// Age is how long the entry has waited at now, a time of the Redis clock (RedisTime): the time embedded in its
// stream id is Redis's.
func (e OutboxEntry) Age(now time.Time) time.Duration {
	return now.Sub(streamTime(e.StreamID))
}

// ReadOutbox returns up to count entries of a product's outbox appended before the cutoff (a time of the Redis
// clock, see RedisTime), oldest first. An undecodable entry is returned too, with Err set, so that one bad entry
// never hides the others.
func ReadOutbox(ctx context.Context, rdb redis.Cmdable, productID int64, cutoff time.Time, count int64) ([]OutboxEntry, error) {
	k := KeysFor(productID)
	msgs, err := rdb.XRangeN(ctx, k.Outbox, "-", "("+strconv.FormatInt(cutoff.UnixMilli(), 10), count).Result()
	if err != nil {
		return nil, fmt.Errorf("read outbox of product %d: %w", productID, err)
	}
	out := make([]OutboxEntry, 0, len(msgs))
	for _, m := range msgs {
		e, err := outboxEvent(productID, m.Values)
		if err != nil {
			out = append(out, OutboxEntry{StreamID: m.ID, Fields: m.Values,
				Err: fmt.Errorf("outbox entry %s of product %d: %w", m.ID, productID, err)})
			continue
		}
		out = append(out, OutboxEntry{StreamID: m.ID, Event: e, Fields: m.Values})
	}
	return out, nil
}

// RedisTime returns the Redis server's clock, the clock of outbox stream ids: ages and cutoffs of outbox entries
// are measured on it, never on the caller's clock.
func RedisTime(ctx context.Context, rdb redis.Cmdable) (time.Time, error) {
	t, err := rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("read redis time: %w", err)
	}
	return t, nil
}

// AckOutbox removes delivered entries from a product's outbox. Removing an entry twice is a no-op.
func AckOutbox(ctx context.Context, rdb redis.Cmdable, productID int64, streamIDs ...string) error {
	if len(streamIDs) == 0 {
		return nil
	}
	if err := rdb.XDel(ctx, KeysFor(productID).Outbox, streamIDs...).Err(); err != nil {
		return fmt.Errorf("ack outbox of product %d: %w", productID, err)
	}
	return nil
}

// OutboxStats returns how many entries wait in a product's outbox and when the oldest was appended (zero time
// when empty).
func OutboxStats(ctx context.Context, rdb redis.Cmdable, productID int64) (int64, time.Time, error) {
	k := KeysFor(productID)
	pipe := rdb.Pipeline()
	n := pipe.XLen(ctx, k.Outbox)
	first := pipe.XRangeN(ctx, k.Outbox, "-", "+", 1)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox stats of product %d: %w", productID, err)
	}
	if len(first.Val()) == 0 {
		return n.Val(), time.Time{}, nil
	}
	return n.Val(), streamTime(first.Val()[0].ID), nil
}

// ReservedEvent rebuilds the SeckillReserved event that Reserve appended, without reading it back: the fast path
// publishes it straight away. It equals what ReadOutbox decodes from the entry.
func ReservedEvent(productID, userID, quantity int64, eventID string, now time.Time, r ReserveResult, name string, price events.Money) *events.SeckillReserved {
	return &events.SeckillReserved{EventID: eventID, OrderNo: r.OrderNo, UserID: userID, ProductID: productID,
		ProductName: name, Price: price, Quantity: quantity, StockBefore: r.Stock + quantity, StockAfter: r.Stock,
		ReservedAt: time.UnixMilli(now.UnixMilli()).UTC(), Seq: r.EventSeq}
}

// SettledEvent rebuilds the SeckillOrderPaid or SeckillOrderCancelled event that Settle appended.
func SettledEvent(productID int64, orderNo string, target Target, eventID string, now time.Time, r SettleResult) events.Event {
	at := time.UnixMilli(now.UnixMilli()).UTC()
	if target.State == StatePaid {
		return &events.SeckillOrderPaid{EventID: eventID, OrderNo: orderNo, UserID: r.UserID, ProductID: productID,
			PaidAt: at, Seq: r.EventSeq, ProductName: r.Name, Price: r.Price, Quantity: r.Quantity}
	}
	return &events.SeckillOrderCancelled{EventID: eventID, OrderNo: orderNo, UserID: r.UserID, ProductID: productID,
		Quantity: r.Quantity, Reason: target.Reason, CancelledAt: at, Seq: r.EventSeq, StockBefore: r.StockBefore,
		StockAfter: r.Stock, ProductName: r.Name, Price: r.Price}
}

func streamTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}

func outboxEvent(productID int64, v map[string]any) (events.Event, error) {
	f := func(k string) string { s, _ := v[k].(string); return s }
	var bad []string
	n := func(k string) int64 {
		x, err := strconv.ParseInt(f(k), 10, 64)
		if err != nil {
			bad = append(bad, k)
		}
		return x
	}
	// opt reads a field that entries appended by the first release's scripts lack (0 when absent).
	opt := func(k string) int64 {
		if _, ok := v[k]; !ok {
			return 0
		}
		return n(k)
	}
	at := time.UnixMilli(n("at")).UTC()
	var e events.Event
	switch f("type") {
	case events.TypeSeckillReserved:
		e = &events.SeckillReserved{EventID: f("id"), OrderNo: f("order"), UserID: n("user"), ProductID: productID,
			ProductName: f("name"), Price: events.Money(n("price")), Quantity: n("qty"), StockBefore: n("before"),
			StockAfter: n("after"), ReservedAt: at, Seq: opt("seq")}
	case events.TypeSeckillOrderPaid:
		e = &events.SeckillOrderPaid{EventID: f("id"), OrderNo: f("order"), UserID: n("user"), ProductID: productID,
			PaidAt: at, Seq: opt("seq"), ProductName: f("name"), Price: events.Money(opt("price")), Quantity: opt("qty")}
	case events.TypeSeckillOrderCancelled:
		e = &events.SeckillOrderCancelled{EventID: f("id"), OrderNo: f("order"), UserID: n("user"), ProductID: productID,
			Quantity: n("qty"), Reason: f("reason"), CancelledAt: at, Seq: opt("seq"), StockBefore: opt("before"),
			StockAfter: opt("after"), ProductName: f("name"), Price: events.Money(opt("price"))}
	default:
		return nil, fmt.Errorf("%w: type %q", ErrBadOutboxEntry, f("type"))
	}
	if e.ID() == "" {
		bad = append(bad, "id")
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: bad fields %v", ErrBadOutboxEntry, bad)
	}
	return e, nil
}
