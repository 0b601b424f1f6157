package rocketmqpubsub

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/seckill/seckill/rocketmqpubsub/internal/rmqtest"
)

// A subscription that has ended is no longer a member of its group: the broker must not allocate it queues. Ten
// subscriptions of one group are started and closed at once, so that the broker asks each to rebalance while
// others shut down (the race leave.go describes, which left a subscription listed for two minutes in one to three
// of thirty such rounds). After every round the broker must list nobody in the group within a few seconds.
func TestClosedSubscriptionsLeaveTheirGroup(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 60
	}
	ns := []string{rmqtest.Namesrv(t)}
	probe := &brokerProbe{addr: rmqtest.Broker(), timeout: 3 * time.Second}
	defer probe.close()
	for round := 0; round < rounds; round++ {
		topic := "leave-" + watermill.NewShortUUID()
		var wg sync.WaitGroup
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := NewSubscriber(SubscriberConfig{NameServers: ns, BrokerAddr: rmqtest.Broker()}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Subscribe(context.Background(), topic); err != nil {
					t.Error(err)
				}
				if err := s.Close(); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		group := DefaultConsumerGroup(topic)
		deadline := time.Now().Add(5 * time.Second)
		for {
			ids, err := probe.groupClients(group)
			if err == nil && len(ids) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: 5s after every subscription of group %s closed, the broker lists %v (err %v)",
					round, group, ids, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
