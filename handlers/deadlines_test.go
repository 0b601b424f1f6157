package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/delay"
	"github.com/ThreeDotsLabs/watermill/message"
)

// slowPublisher records what it publishes; each Publish takes a while, so concurrent schedules pile up. It does
// not check topics beyond recording them.
type slowPublisher struct {
	mu   sync.Mutex
	msgs []*message.Message
	fail bool
}

func (p *slowPublisher) Publish(_ string, msgs ...*message.Message) error {
	time.Sleep(20 * time.Millisecond)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("broker down")
	}
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *slowPublisher) Close() error { return nil }

func TestDeadlinesOfConcurrentReservationsShareDelayedMessages(t *testing.T) {
	pub := &slowPublisher{}
	b := &deadlines{pub: pub, topic: "t", delay: 15 * time.Minute, max: 64}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.schedule(PaymentDeadline{OrderNo: fmt.Sprintf("SK1-%d", i), ProductID: 1, UserID: int64(i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, m := range pub.msgs {
		var ds []PaymentDeadline
		if err := json.Unmarshal(m.Payload, &ds); err != nil || len(ds) == 0 || len(ds) > 64 {
			t.Fatalf("message payload %q: %v", m.Payload, err)
		}
		if m.Metadata.Get("name") != PaymentTimeoutName || m.Metadata.Get(delay.DelayedForKey) == "" {
			t.Fatalf("message metadata %v, want the timeout name and a delay", m.Metadata)
		}
		for _, d := range ds {
			seen[d.UserID] = true
		}
	}
	if len(seen) != 200 {
		t.Fatalf("%d deadlines published, want 200", len(seen))
	}
	if len(pub.msgs) >= 200 {
		t.Fatalf("%d messages for 200 concurrent deadlines: nothing was coalesced", len(pub.msgs))
	}
}

func TestDeadlineFailureReachesEveryWaiter(t *testing.T) {
	b := &deadlines{pub: &slowPublisher{fail: true}, topic: "t", delay: time.Minute, max: 8}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.schedule(PaymentDeadline{OrderNo: "SK1-1", UserID: int64(i)}); err == nil {
				t.Error("schedule succeeded although the publish failed")
			}
		}()
	}
	wg.Wait()
}

// TestDeadlinePayloadsOfBothReleasesDecode: the first release published one deadline object per message; those
// are still in flight after an upgrade and must cancel their order, not be parked.
func TestDeadlinePayloadsOfBothReleasesDecode(t *testing.T) {
	for name, c := range map[string]struct {
		payload string
		want    int
	}{
		"one object (first release)": {`{"orderNo":"SK1-00000001","productId":1,"userId":2}`, 1},
		"an array":                   {`[{"orderNo":"SK1-00000001","productId":1,"userId":2},{"orderNo":"SK1-00000002","productId":1,"userId":3}]`, 2},
	} {
		ds, err := decodeDeadlines([]byte(c.payload))
		if err != nil || len(ds) != c.want || ds[0].OrderNo != "SK1-00000001" {
			t.Fatalf("%s: %v, %v", name, ds, err)
		}
	}
	for _, bad := range []string{``, `[]`, `nonsense`, `{"orderNo":`} {
		if _, err := decodeDeadlines([]byte(bad)); err == nil {
			t.Fatalf("%q decoded", bad)
		}
	}
}
