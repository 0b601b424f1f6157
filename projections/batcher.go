package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/seckill/seckill/events"
)

// BatcherConfig configures a Batcher.
type BatcherConfig struct {
	// MaxBatch is the most events applied in one transaction. Defaults to 64.
	MaxBatch int
	// MaxWait is how long a batch waits for more events once its first one arrived. Defaults to 0: a batch takes
	// what queued up while the previous transaction ran, which is how concurrent handlers coalesce anyway.
	MaxWait time.Duration
	// Timeout bounds one batch transaction. Defaults to 30s.
	Timeout time.Duration
}

func (c *BatcherConfig) setDefaults() {
	if c.MaxBatch == 0 {
		c.MaxBatch = 64
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
}

// Validate reports the first invalid field.
func (c BatcherConfig) Validate() error {
	switch {
	case c.MaxBatch < 1:
		return errors.New("batcher: MaxBatch must be positive")
	case c.MaxWait < 0, c.Timeout < 0:
		return errors.New("batcher: durations must not be negative")
	}
	return nil
}

// ErrBatcherClosed is returned by Batcher.Record after Close.
var ErrBatcherClosed = errors.New("batcher closed")

// Batcher coalesces concurrent Record calls into Store.RecordBatch transactions: one goroutine applies the events
// that queued up while the previous transaction ran, then answers each caller with its own outcome. Record has the
// contract of Store.Record (same idempotency, same outcomes, same errors) and is safe for concurrent use; it
// returns once the event's transaction has committed or failed.
type Batcher struct {
	store *Store
	cfg   BatcherConfig
	reqs  chan batchRequest

	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
}

type batchRequest struct {
	e     events.Event
	reply chan Result
}

// NewBatcher starts a Batcher over store. Close stops it.
func NewBatcher(store *Store, cfg BatcherConfig) (*Batcher, error) {
	if store == nil {
		return nil, errors.New("batcher: nil store")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Batcher{store: store, cfg: cfg, reqs: make(chan batchRequest), closing: make(chan struct{}),
		done: make(chan struct{})}
	go b.run()
	return b, nil
}

// Record records one event as part of the next batch. If ctx ends first, Record returns ctx.Err(); the event may
// still be recorded, which a redelivery then sees as Duplicate.
func (b *Batcher) Record(ctx context.Context, e events.Event) (Outcome, error) {
	req := batchRequest{e: e, reply: make(chan Result, 1)}
	select {
	case b.reqs <- req:
	case <-b.closing:
		return 0, ErrBatcherClosed
	case <-ctx.Done():
		return 0, fmt.Errorf("record event %s: %w", e.ID(), ctx.Err())
	}
	select {
	case r := <-req.reply:
		return r.Outcome, r.Err
	case <-ctx.Done():
		return 0, fmt.Errorf("record event %s: %w", e.ID(), ctx.Err())
	}
}

// Close stops the batcher after the batch in progress; later Record calls return ErrBatcherClosed. It is
// idempotent.
func (b *Batcher) Close() error {
	b.closeOnce.Do(func() { close(b.closing) })
	<-b.done
	return nil
}

func (b *Batcher) run() {
	defer close(b.done)
	for {
		var first batchRequest
		select {
		case first = <-b.reqs:
		case <-b.closing:
			return
		}
		batch := b.collect(first)
		es := make([]events.Event, len(batch))
		for i, r := range batch {
			es[i] = r.e
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
		res := b.store.RecordBatch(ctx, es)
		cancel()
		for i, r := range batch {
			r.reply <- res[i]
		}
	}
}

// collect gathers the requests waiting behind first, up to MaxBatch, waiting at most MaxWait for more.
func (b *Batcher) collect(first batchRequest) []batchRequest {
	batch := []batchRequest{first}
	var timeout <-chan time.Time
	if b.cfg.MaxWait > 0 {
		t := time.NewTimer(b.cfg.MaxWait)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < b.cfg.MaxBatch {
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		if timeout == nil {
			return batch
		}
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-timeout:
			return batch
		}
	}
	return batch
}
