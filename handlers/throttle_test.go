package handlers

import (
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

func TestThrottleCapsTheRateButAdmitsBursts(t *testing.T) {
	th := newThrottle(1000)
	h := th.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })
	start := time.Now()
	var wg sync.WaitGroup
	for range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = h(message.NewMessage("id", nil))
		}()
	}
	wg.Wait()
	// 100 pass at once (the burst), the other 200 at 1000/s: about 200ms, never much less.
	if took := time.Since(start); took < 180*time.Millisecond {
		t.Fatalf("300 messages passed a 1000/s throttle in %s", took)
	}
}
