package handlers

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

func TestThrottleCapsTheRateButAdmitsBursts(t *testing.T) {
	th := newThrottle(1000)
	h := th.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })
	start := time.Now()
	handleAtOnce(h, 300)
	// 100 pass at once (the burst), the other 200 at 1000/s: about 200ms, never much less.
	if took := time.Since(start); took < 180*time.Millisecond {
		t.Fatalf("300 messages passed a 1000/s throttle in %s", took)
	}
}

// The burst half: a tenth of a second's worth of messages passes at once, without waiting for the rate.
func TestThrottleAdmitsATenthOfASecondAtOnce(t *testing.T) {
	th := newThrottle(1000)
	if b := th.limiter.Burst(); b != 100 {
		t.Fatalf("burst %d, want 100 (a tenth of a second at 1000/s)", b)
	}
	h := th.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })
	start := time.Now()
	for i := range 100 {
		if _, err := h(message.NewMessage("id", nil)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// At the steady rate alone these 100 would take 100ms; the burst lets them through in microseconds.
	if took := time.Since(start); took >= 80*time.Millisecond {
		t.Fatalf("the burst of 100 took %s, as if it waited for the rate", took)
	}
}

// A message whose context ends while it waits for its turn is nacked, and its handler never runs.
func TestThrottleNacksAMessageWhoseContextEnds(t *testing.T) {
	th := newThrottle(10) // burst of 1
	ran := 0
	h := th.Middleware(func(*message.Message) ([]*message.Message, error) { ran++; return nil, nil })
	if _, err := h(message.NewMessage("first", nil)); err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage("second", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msg.SetContext(ctx)
	if _, err := h(msg); err == nil {
		t.Fatal("a message whose context ended passed the throttle")
	}
	if ran != 1 {
		t.Fatalf("handler ran %d times, want 1", ran)
	}
}

// Messages that wait for the rate are let through together, a tick's worth at a time, so that the projection
// behind the throttle commits them together instead of one by one.
func TestThrottleLetsWaitingMessagesThroughATickAtATime(t *testing.T) {
	th := newThrottle(1000)
	var mu sync.Mutex
	var passed []time.Time
	h := th.Middleware(func(*message.Message) ([]*message.Message, error) {
		mu.Lock()
		passed = append(passed, time.Now())
		mu.Unlock()
		return nil, nil
	})
	handleAtOnce(h, 300)
	// The 200 beyond the burst wait; they pass in groups at tick ends, not one per millisecond: count the
	// instants (1 ms apart or more) at which messages passed.
	instants, last := 0, time.Time{}
	for _, p := range sortedTimes(passed) {
		if p.Sub(last) >= time.Millisecond {
			instants++
		}
		last = p
	}
	ticks := int(200*time.Millisecond/throttleTick) + 2 // the waiting ones' ticks, plus the burst and a partial tick
	if instants > ticks+2 {
		t.Fatalf("300 messages passed at %d distinct instants; want them grouped into about %d ticks", instants, ticks)
	}
}

// handleAtOnce hands n messages to h from n goroutines at once and returns when h has returned for all.
func handleAtOnce(h message.HandlerFunc, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = h(message.NewMessage("id", nil))
		}()
	}
	wg.Wait()
}

func sortedTimes(ts []time.Time) []time.Time {
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}
