package rocketmqpubsub

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/seckill/seckill/rocketmqpubsub/internal/rmqtest"
)

// waitForClients polls the broker's consumer list of group until match accepts it, and returns it.
func waitForClients(t *testing.T, probe *brokerProbe, group string, what string, match func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ids, err := probe.groupClients(group)
		if err == nil && match(ids) {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s: %s did not happen within 30s (clients %v, err %v)", group, what, ids, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func listsInstance(instance string) func([]string) bool {
	return func(ids []string) bool {
		for _, id := range ids {
			if strings.HasSuffix(id, "@"+instance) {
				return true
			}
		}
		return false
	}
}

// subscribeForTest subscribes a fresh group to a fresh topic and returns the group, the subscription's client
// instance as the broker lists it, and a function that ends the subscription and waits until it has.
func subscribeForTest(t *testing.T, probe *brokerProbe) (s *Subscriber, group, instance string, end func()) {
	t.Helper()
	ns := rmqtest.Namesrv(t)
	topic := "hb-" + watermill.NewShortUUID()
	group = "hb-" + watermill.NewShortUUID()
	s, err := NewSubscriber(SubscriberConfig{NameServers: []string{ns}, BrokerAddr: rmqtest.Broker(), ConsumerGroup: group}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := s.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ids := waitForClients(t, probe, group, "one client registered", func(ids []string) bool { return len(ids) == 1 })
	_, instance, _ = strings.Cut(ids[0], "@")
	return s, group, instance, func() {
		cancel()
		for range msgs {
		}
	}
}

// The probe reads the broker's own registry of the group: a live subscription is listed, and once it has ended
// (its client's connections closed) the broker no longer lists anyone, which is the answer after a restart too.
func TestBrokerProbeSeesWhatTheBrokerRegisters(t *testing.T) {
	probe := &brokerProbe{addr: rmqtest.Broker(), timeout: 3 * time.Second}
	defer probe.close()
	_, group, instance, end := subscribeForTest(t, probe)
	if !strings.HasPrefix(instance, "wm-sub-") {
		t.Fatalf("listed instance %q, want the subscription's wm-sub-… instance", instance)
	}
	end()
	waitForClients(t, probe, group, "the closed subscription forgotten", func(ids []string) bool { return len(ids) == 0 })
	ids, err := probe.groupClients("never-joined-" + watermill.NewShortUUID())
	if err != nil || len(ids) != 0 {
		t.Fatalf("unknown group: clients %v, err %v; want none and no error", ids, err)
	}
}

// When the broker does not list a subscription's client in its group, the watcher makes that client send a
// heartbeat at once: the broker then lists the client in every group the client holds, the throwaway
// consumer's group included (which only that heartbeat can have registered).
func TestWatcherKicksAHeartbeatWhenTheBrokerDoesNotListTheConsumer(t *testing.T) {
	probe := &brokerProbe{addr: rmqtest.Broker(), timeout: 3 * time.Second}
	defer probe.close()
	s, _, instance, end := subscribeForTest(t, probe)
	defer end()
	if ids, _ := probe.groupClients(heartbeatGroup); listsInstance(instance)(ids) {
		t.Fatalf("instance %s already in %s before any kick: %v", instance, heartbeatGroup, ids)
	}
	// A watcher for a group the client never joined sees what it sees after a broker restart: not listed.
	watcher := &subscription{s: s, group: "never-joined-" + watermill.NewShortUUID(), instance: instance,
		watched: make(chan struct{}), logger: watermill.NopLogger{}}
	stop := make(chan struct{})
	go watcher.watchHeartbeat(stop)
	defer func() { close(stop); <-watcher.watched }()
	waitForClients(t, probe, heartbeatGroup, "a heartbeat from instance "+instance, listsInstance(instance))
}
