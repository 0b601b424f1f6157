package rocketmqpubsub

import (
	"container/heap"
	"sync"
	"time"
)

// orderGrace is how long a queue's gate waits for a missing offset before it lets the next waiting one through.
// The client runs each message's callback in its own goroutine, so a later message can reach the gate first;
// at the start of a subscription (the first offset is unknown) and after a gap that is never filled (the queue
// was re-pulled from a later committed offset) the gate pays this once.
const orderGrace = 50 * time.Millisecond

// queueGate lets the messages of one queue through, lowest offset first, at most limit at a time (1: one at a
// time, each after the previous one was released).
type queueGate struct {
	mu        sync.Mutex
	limit     int
	inflight  int
	next      int64 // offset after the last admitted message; -1 before the first
	waiting   waiterHeap
	timer     *time.Timer
	timerGen  int
	graceOver bool
}

type waiter struct {
	offset   int64
	index    int
	admitted bool
	ch       chan struct{}
}

func newQueueGate(limit int) *queueGate {
	return &queueGate{next: -1, limit: limit}
}

// acquire waits until the message at offset may pass. It returns false if done is closed first.
func (g *queueGate) acquire(offset int64, done <-chan struct{}) bool {
	w := &waiter{offset: offset, ch: make(chan struct{})}
	g.mu.Lock()
	heap.Push(&g.waiting, w)
	g.dispatchLocked()
	g.mu.Unlock()
	select {
	case <-w.ch:
		return true
	case <-done:
		g.mu.Lock()
		defer g.mu.Unlock()
		if w.admitted {
			return true
		}
		heap.Remove(&g.waiting, w.index)
		return false
	}
}

// release frees the slot of a message that passed the gate.
func (g *queueGate) release() {
	g.mu.Lock()
	g.inflight--
	g.dispatchLocked()
	g.mu.Unlock()
}

func (g *queueGate) dispatchLocked() {
	for g.inflight < g.limit && len(g.waiting) > 0 {
		if !g.admitLocked() {
			return
		}
	}
}

// admitLocked lets the lowest waiting offset through, unless it is ahead of the next expected offset and the
// grace for the missing ones has not run out; it reports whether it admitted one.
func (g *queueGate) admitLocked() bool {
	if first := g.waiting[0].offset; (g.next < 0 || first > g.next) && !g.graceOver {
		if g.timer == nil {
			gen := g.timerGen
			g.timer = time.AfterFunc(orderGrace, func() {
				g.mu.Lock()
				defer g.mu.Unlock()
				if gen == g.timerGen {
					g.timer = nil
					g.graceOver = true
					g.dispatchLocked()
				}
			})
		}
		return false
	}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.timerGen++
	g.graceOver = false
	w := heap.Pop(&g.waiting).(*waiter)
	w.admitted = true
	g.inflight++
	g.next = max(g.next, w.offset+1)
	close(w.ch)
	return true
}

type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].offset < h[j].offset }
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}
