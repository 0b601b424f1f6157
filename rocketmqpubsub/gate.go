package rocketmqpubsub

import (
	"sync"
	"time"
)

// orderGrace is how long a batch waits for an earlier batch of its queue that has not reached the gate yet.
// The client starts one goroutine per pulled batch, so a later batch can get here first; a gap that is never
// filled (the queue was re-pulled from a later committed offset after a rebalance) costs this once.
const orderGrace = 200 * time.Millisecond

// queueGate lets the batches of one queue through one at a time, in offset order.
type queueGate struct {
	mu      sync.Mutex
	busy    bool
	next    int64 // offset after the last released batch; -1 before the first
	changed chan struct{}
}

func newQueueGate() *queueGate {
	return &queueGate{next: -1, changed: make(chan struct{})}
}

// acquire waits until the gate is free and first is the next offset (or earlier, or the grace has passed).
// It returns false if done is closed first.
func (g *queueGate) acquire(first int64, done <-chan struct{}) bool {
	var grace <-chan time.Time
	graceOver := false
	for {
		g.mu.Lock()
		if !g.busy && (g.next < 0 || first <= g.next || graceOver) {
			g.busy = true
			g.mu.Unlock()
			return true
		}
		changed := g.changed
		if !g.busy && grace == nil {
			t := time.NewTimer(orderGrace)
			defer t.Stop()
			grace = t.C
		}
		g.mu.Unlock()
		select {
		case <-changed:
		case <-grace:
			graceOver = true
		case <-done:
			return false
		}
	}
}

// release frees the gate after a batch that ended at offset last.
func (g *queueGate) release(last int64) {
	g.mu.Lock()
	g.busy = false
	g.next = last + 1
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
}
