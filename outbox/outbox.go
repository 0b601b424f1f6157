// Package outbox moves the events the Redis scripts append to each product's outbox stream into RocketMQ.
//
// A reservation is never lost between Redis and the broker: the event is appended to the outbox atomically with
// the stock decrement (schema.Reserve), the request path hands it to the fast path (Deliver), whose publisher
// goroutine publishes what concurrent requests queued in one batched call and then removes the entries, and the
// relay (Run) republishes whatever stayed longer than MinAge (a crash between the two steps, a broker outage, a
// full queue). An event may thus reach the broker twice; every projection is idempotent by event id.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

// Config configures the fast path and the relay.
type Config struct {
	// Topic the events go to. Defaults to events.DefaultTopic.
	Topic string
	// PublishTimeout bounds one publish of the fast path. Defaults to 1s.
	PublishTimeout time.Duration
	// MinAge is how long an entry may wait before the relay republishes it. Defaults to 3s.
	MinAge time.Duration
	// Interval between two relay passes. Defaults to 1s.
	Interval time.Duration
	// Backoff is how long the fast path stays off after a failed publish, so buyers do not each wait for a broker
	// that is down; the relay keeps trying meanwhile. Defaults to 2s.
	Backoff time.Duration
	// BatchSize is the most entries the relay or the fast path publishes in one call. Defaults to 256.
	BatchSize int64
	// Linger is how long the fast path waits, after an event arrives, for more to publish with it (unless BatchSize
	// is reached first). It delays no answer: the event is in the Redis outbox before the buyer is told. Each publish
	// costs serve and the broker a fixed ~0.1 ms beside its per-event cost, so at moderate rates, where one call
	// would carry a few events, waiting lets it carry more. Defaults to 2ms; negative means no wait.
	Linger time.Duration
	// QueueSize is how many events may wait for the fast path; beyond it Deliver leaves events to the relay.
	// Defaults to 16384.
	QueueSize int
	// Instance names this process in the relay leases (schema.RelayLease): of several instances, one relays each
	// product's outbox. Defaults to a random id.
	Instance string
	// Now is the process's clock, which times the fast path's Backoff; nil means time.Now. The ages of outbox
	// entries are never taken on it: stream ids carry the Redis clock, and the relay reads that clock (TIME).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Topic == "" {
		c.Topic = events.DefaultTopic
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = time.Second
	}
	if c.MinAge == 0 {
		c.MinAge = 3 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Backoff == 0 {
		c.Backoff = 2 * time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 256
	}
	if c.Linger == 0 {
		c.Linger = 2 * time.Millisecond
	}
	if c.QueueSize == 0 {
		c.QueueSize = 16384
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Instance == "" {
		c.Instance = uuid.NewString()
	}
}

// leaseTTL is how long a relay keeps a product's lease without renewing it: longer than a batch's publish, so a
// live relay never loses it; a dead one's products wait that long for another.
func (c Config) leaseTTL() time.Duration { return 3*c.Interval + 5*c.PublishTimeout }

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.PublishTimeout < 0, c.MinAge < 0, c.Interval < 0, c.Backoff < 0:
		return errors.New("outbox durations must not be negative")
	case c.BatchSize < 1, c.QueueSize < 1:
		return errors.New("outbox batch and queue sizes must be positive")
	}
	return nil
}

// Outbox publishes outbox entries. It is safe for concurrent use; Close stops its fast path.
type Outbox struct {
	cfg     Config
	rdb     redis.UniversalClient
	pub     message.Publisher
	log     *slog.Logger
	metrics *metrics
	// fastOffUntil is the unix nano time until which the fast path is skipped after a failure.
	fastOffUntil atomic.Int64

	mu     sync.RWMutex // guards closed against Deliver sending on a closed queue
	closed bool
	queue  chan delivery
	done   chan struct{}
}

// delivery is an event a request appended to a product's outbox and queued for the fast path.
type delivery struct {
	productID int64
	streamID  string
	event     events.Event
}

// New returns an Outbox publishing through pub. The registerer receives its metrics.
func New(cfg Config, rdb redis.UniversalClient, pub message.Publisher, reg prometheus.Registerer, log *slog.Logger) (*Outbox, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rdb == nil || pub == nil || reg == nil || log == nil {
		return nil, errors.New("outbox: redis, publisher, registerer and logger are required")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	o := &Outbox{cfg: cfg, rdb: rdb, pub: pub, log: log, metrics: m, queue: make(chan delivery, cfg.QueueSize),
		done: make(chan struct{})}
	go o.fastPath()
	return o, nil
}

// Deliver hands the fast path one event the caller has just appended (streamID of productID's outbox) and returns
// at once; the event is already safe in the outbox, so the caller need not wait for the broker. It reports false
// when the event was left to the relay instead: the fast path is paused after a failed publish (Backoff), its
// queue is full, or the Outbox is closed.
func (o *Outbox) Deliver(_ context.Context, productID int64, streamID string, e events.Event) bool {
	if o.cfg.Now().UnixNano() < o.fastOffUntil.Load() {
		o.metrics.fastSkipped.Inc()
		return false
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return false
	}
	select {
	case o.queue <- delivery{productID: productID, streamID: streamID, event: e}:
		return true
	default:
		o.metrics.fastSkipped.Inc()
		return false
	}
}

// Close stops the fast path after it has published what is queued. Deliver leaves later events to the relay.
// Close is idempotent.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.queue)
	}
	o.mu.Unlock()
	<-o.done
	return nil
}

// fastPath publishes queued deliveries: an event and whatever follows it within Linger go in one Publish call (up
// to BatchSize), so one broker round trip carries many events. Then it removes them from the outbox. Once the
// queue is closed it publishes what is left at once.
func (o *Outbox) fastPath() {
	defer close(o.done)
	batch := make([]delivery, 0, o.cfg.BatchSize)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for d := range o.queue {
		batch = append(batch[:0], d)
		waiting := o.cfg.Linger > 0
		if waiting {
			linger.Reset(o.cfg.Linger)
		}
	fill:
		for int64(len(batch)) < o.cfg.BatchSize {
			select {
			case more, ok := <-o.queue:
				if !ok {
					break fill
				}
				batch = append(batch, more)
				continue
			default:
			}
			if !waiting {
				break
			}
			select {
			case more, ok := <-o.queue:
				if !ok {
					break fill
				}
				batch = append(batch, more)
			case <-linger.C:
				waiting = false
			}
		}
		linger.Stop()
		o.flush(batch)
	}
}

func (o *Outbox) flush(batch []delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.PublishTimeout)
	defer cancel()
	evs := make([]events.Event, len(batch))
	for i, d := range batch {
		evs[i] = d.event
	}
	if err := o.publish(ctx, evs...); err != nil {
		o.fastOffUntil.Store(o.cfg.Now().Add(o.cfg.Backoff).UnixNano())
		o.log.Warn("publish failed, leaving the events to the outbox relay", "events", len(evs), "err", err)
		return
	}
	// One XDEL per product carries all of its entries of the batch (a sale is mostly one product).
	ids := map[int64][]string{}
	for _, d := range batch {
		ids[d.productID] = append(ids[d.productID], d.streamID)
	}
	pipe := o.rdb.Pipeline()
	for productID, streamIDs := range ids {
		pipe.XDel(ctx, schema.KeysFor(productID).Outbox, streamIDs...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		o.metrics.ackFailures.Add(float64(len(batch)))
		o.log.Warn("outbox ack failed; the relay will publish the events again", "events", len(batch), "err", err)
	}
}

func (o *Outbox) publish(ctx context.Context, evs ...events.Event) error {
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		m, err := eventmsg.ToMessage(e)
		if err != nil {
			return err
		}
		m.SetContext(ctx)
		msgs[i] = m
	}
	start := time.Now()
	err := o.pub.Publish(o.cfg.Topic, msgs...)
	o.metrics.publishSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		o.metrics.publishFailures.Add(float64(len(msgs)))
		return fmt.Errorf("publish %d events to %s: %w", len(msgs), o.cfg.Topic, err)
	}
	o.metrics.published.Add(float64(len(msgs)))
	return nil
}

// Run relays until ctx is done: every Interval it walks every loaded product's outbox whose relay lease it can
// take (schema.RelayLease: of several instances one relays each product at a time), republishes the entries older
// than MinAge (by the Redis clock) in batches and removes them, parks the entries that cannot become an event
// (schema.ParkOutbox), and updates the depth and age gauges. Errors are logged and retried on the next
// pass. Run returns nil when ctx is cancelled.
func (o *Outbox) Run(ctx context.Context) error {
	t := time.NewTicker(o.cfg.Interval)
	defer t.Stop()
	for {
		if err := o.RelayOnce(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("outbox relay pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RelayOnce makes one relay pass and returns the first error met (later products are still relayed).
func (o *Outbox) RelayOnce(ctx context.Context) error { return o.relay(ctx, o.cfg.MinAge) }

// Flush publishes every entry waiting in the outbox, however young, whoever holds the relay leases: the last pass
// of a process going down, once its fast path is closed (entries another process is publishing at that moment
// may reach the broker twice).
func (o *Outbox) Flush(ctx context.Context) error { return o.relay(ctx, 0) }

func (o *Outbox) relay(ctx context.Context, minAge time.Duration) error {
	ids, err := o.rdb.SMembers(ctx, schema.ProductsKey).Result()
	if err != nil {
		return fmt.Errorf("list products: %w", err)
	}
	// Stream ids carry the Redis clock: the cutoff and the ages are taken on it, not on this process's clock.
	now, err := schema.RedisTime(ctx, o.rdb)
	if err != nil {
		return err
	}
	cutoff := now.Add(-minAge)
	if minAge == 0 {
		cutoff = cutoff.Add(time.Millisecond) // the cutoff is exclusive and in ms: take this ms's entries too
	}
	var firstErr error
	var depth int64
	var oldest time.Time
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			continue
		}
		if err := o.relayProduct(ctx, id, cutoff, minAge > 0); err != nil && firstErr == nil {
			firstErr = err
		}
		n, first, err := schema.OutboxStats(ctx, o.rdb, id)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		depth += n
		if !first.IsZero() && (oldest.IsZero() || first.Before(oldest)) {
			oldest = first
		}
	}
	o.metrics.depth.Set(float64(depth))
	if oldest.IsZero() {
		o.metrics.oldestAge.Set(0)
	} else {
		o.metrics.oldestAge.Set(max(now.Sub(oldest), 0).Seconds())
	}
	return firstErr
}

// relayProduct relays a product's entries older than cutoff. With leased, it relays only while it holds the
// product's relay lease (taken when there is something to relay, renewed before each batch, released when done),
// so that of several instances one relays each product at a time.
func (o *Outbox) relayProduct(ctx context.Context, productID int64, cutoff time.Time, leased bool) error {
	held := false
	defer func() {
		if held {
			_ = schema.ReleaseRelayLease(context.WithoutCancel(ctx), o.rdb, productID, o.cfg.Instance)
		}
	}()
	for {
		entries, err := schema.ReadOutbox(ctx, o.rdb, productID, cutoff, o.cfg.BatchSize)
		if err != nil || len(entries) == 0 {
			return err
		}
		if leased {
			ok, err := schema.RelayLease(ctx, o.rdb, productID, o.cfg.Instance, o.cfg.leaseTTL())
			if err != nil || !ok {
				return err
			}
			if !held { // read again: the previous holder may have relayed these meanwhile
				held = true
				continue
			}
		}
		evs := make([]events.Event, 0, len(entries))
		ids := make([]string, 0, len(entries))
		for _, e := range entries {
			if e.Err != nil {
				if err := o.park(ctx, productID, e); err != nil {
					return err
				}
				continue
			}
			evs, ids = append(evs, e.Event), append(ids, e.StreamID)
		}
		if len(evs) > 0 {
			pctx, cancel := context.WithTimeout(ctx, o.cfg.PublishTimeout*5)
			err = o.publish(pctx, evs...)
			cancel()
			if err != nil {
				return fmt.Errorf("relay product %d: %w", productID, err)
			}
			o.metrics.relayed.Add(float64(len(evs)))
			o.fastOffUntil.Store(0)
			if err := schema.AckOutbox(ctx, o.rdb, productID, ids...); err != nil {
				o.metrics.ackFailures.Add(float64(len(ids)))
				return err
			}
		}
		if int64(len(entries)) < o.cfg.BatchSize {
			return nil
		}
	}
}

// park moves an entry that cannot become an event to the product's dead-letter stream (schema.OutboxDeadKey), so
// that it no longer holds up the entries behind it; it is counted and logged, never dropped.
func (o *Outbox) park(ctx context.Context, productID int64, e schema.OutboxEntry) error {
	if err := schema.ParkOutbox(ctx, o.rdb, productID, e, e.Err.Error()); err != nil {
		return err
	}
	o.metrics.parked.Inc()
	o.log.Error("undecodable outbox entry parked", "product_id", productID, "stream_id", e.StreamID,
		"dead_letter_stream", schema.OutboxDeadKey(productID), "err", e.Err)
	return nil
}
