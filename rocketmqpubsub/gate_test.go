package rocketmqpubsub

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// A message that reaches the gate before a lower offset of its queue waits for it: the client runs callbacks in
// goroutines of their own, so arrival order is not offset order.
func TestQueueGateAdmitsInOffsetOrderWhatArrivesOutOfOrder(t *testing.T) {
	g := newQueueGate(1)
	g.next = 10
	if !g.acquire(10, nil) { // 10 holds the only slot while the others arrive
		t.Fatal("offset 10 not admitted")
	}
	var (
		mu       sync.Mutex
		admitted []int64
		wg       sync.WaitGroup
	)
	arrivals := []int64{13, 11, 14, 12}
	for _, off := range arrivals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !g.acquire(off, nil) {
				t.Errorf("offset %d: acquire returned false without done", off)
				return
			}
			mu.Lock()
			admitted = append(admitted, off)
			mu.Unlock()
			g.release()
		}()
	}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiting) == len(arrivals) })
	g.release()
	wg.Wait()
	if want := []int64{11, 12, 13, 14}; !slices.Equal(admitted, want) {
		t.Fatalf("admitted %v, want %v", admitted, want)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueueGateNeverHasMoreThanLimitInFlight(t *testing.T) {
	const limit = 3
	g := newQueueGate(limit)
	g.next = 0
	var (
		mu            sync.Mutex
		inflight, top int
		wg            sync.WaitGroup
	)
	for off := range int64(40) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !g.acquire(off, nil) {
				t.Errorf("offset %d not admitted", off)
				return
			}
			mu.Lock()
			inflight++
			top = max(top, inflight)
			mu.Unlock()
			time.Sleep(time.Millisecond) // hold the slot so that others pile up behind it
			mu.Lock()
			inflight--
			mu.Unlock()
			g.release()
		}()
	}
	wg.Wait()
	if top > limit {
		t.Fatalf("%d messages in flight at once, limit %d", top, limit)
	}
	if top < 2 {
		t.Fatalf("at most %d in flight: the gate serialised a limit of %d", top, limit)
	}
}

// A gap that is never filled (an offset the client will not deliver) holds the queue for orderGrace only.
func TestQueueGateLetsAGapPassAfterTheGrace(t *testing.T) {
	g := newQueueGate(1)
	g.next = 5
	start := time.Now()
	done := make(chan bool, 1)
	go func() { done <- g.acquire(7, nil) }() // 5 and 6 never come
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("acquire returned false")
		}
	case <-time.After(10 * orderGrace):
		t.Fatalf("offset 7 still held after %v, grace is %v", 10*orderGrace, orderGrace)
	}
	if waited := time.Since(start); waited < orderGrace {
		t.Fatalf("offset 7 passed after %v, before the grace of %v for the missing 5 and 6", waited, orderGrace)
	}
	g.release()
	// 6 arriving late is below next now; it passes at once.
	if !g.acquire(6, nil) {
		t.Fatal("late offset 6 not admitted")
	}
	g.release()
}

func TestQueueGateAcquireGivesUpWhenDone(t *testing.T) {
	g := newQueueGate(1)
	g.next = 0
	if !g.acquire(0, nil) {
		t.Fatal("offset 0 not admitted")
	}
	done := make(chan struct{})
	result := make(chan bool, 1)
	go func() { result <- g.acquire(1, done) }() // held: 0 is still in flight
	close(done)
	if ok := <-result; ok {
		t.Fatal("acquire of a held message returned true after done was closed")
	}
	g.release()
	// The abandoned waiter left the heap: the next offset is admitted, not blocked behind it.
	if !g.acquire(2, nil) {
		t.Fatal("offset 2 not admitted after the abandoned waiter")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiting) != 0 {
		t.Fatalf("%d waiters left in the gate", len(g.waiting))
	}
}
