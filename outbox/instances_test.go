package outbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/seckill/seckill/outbox"
	"github.com/seckill/seckill/schema"
)

// TestRelaysOfTwoInstancesLoseNothingAndSendOnce: the events of an instance that died between Reserve and its fast
// path (none was delivered) are relayed by the other two, whose relays walk the same outbox at the same time: every
// event reaches the broker exactly once (one of them holds the product's relay lease), and the outbox ends empty.
func TestRelaysOfTwoInstancesLoseNothingAndSendOnce(t *testing.T) {
	r := newRig(t, 600)
	rs := r.reserve(1, 600)
	b, _ := r.outbox(outbox.Config{BatchSize: 50, Instance: "b"}, r.rdb, r.newPublisher())
	c, _ := r.outbox(outbox.Config{BatchSize: 50, Instance: "c"}, r.rdb, r.newPublisher())
	relay(t, r, b, c)
	r.wantDelivered(rs, 1)
}

// TestRelayLeaseOfADeadInstancePassesOn: while an instance that stopped relaying still holds a product's lease, the
// others leave the product alone; once the lease ran out (leaseTTL: 3 intervals + 5 publish timeouts) another
// relays it.
func TestRelayLeaseOfADeadInstancePassesOn(t *testing.T) {
	r := newRig(t, 10)
	ctx := context.Background()
	if held, err := schema.RelayLease(ctx, r.rdb, r.id, "dead", 300*time.Millisecond); err != nil || !held {
		t.Fatalf("lease of the dead instance: %t %v", held, err)
	}
	rs := r.reserve(1, 10)
	o, _ := r.outbox(outbox.Config{Instance: "live"}, r.rdb, r.pub)
	if err := o.RelayOnce(ctx); err != nil || r.depth() != 10 {
		t.Fatalf("relay under another's lease: depth %d (%v), want the 10 entries left", r.depth(), err)
	}
	r.relayUntilEmpty(o)
	r.wantDelivered(rs, 1)
}

// relay runs the relays of outboxes at once, each pass after pass, until the rig's outbox is empty.
func relay(t *testing.T, r *rig, outboxes ...*outbox.Outbox) {
	t.Helper()
	errs := make(chan error, len(outboxes))
	var wg sync.WaitGroup
	for _, o := range outboxes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if n, _, err := schema.OutboxStats(context.Background(), r.rdb, r.id); err != nil || n == 0 {
					return
				}
				if err := o.RelayOnce(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("relay: %v", err)
	}
	if n := r.depth(); n != 0 {
		t.Fatalf("outbox depth %d after 30s of relay passes, want 0", n)
	}
}
