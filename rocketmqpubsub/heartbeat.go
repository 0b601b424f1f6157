package rocketmqpubsub

import (
	"strings"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// After a broker restart the broker has forgotten the consumers, and every pull fails with "the consumer's
// group info not exist" (code 24, SUBSCRIPTION_NOT_EXIST) until the client's next heartbeat, up to 30 s later;
// the client has no public way to send one sooner. Starting any consumer on the same client instance sends a
// heartbeat for all consumers of that instance.
//
// So each subscription watches for the condition itself, in the protocol: every heartbeatCheckInterval it asks
// the broker at SubscriberConfig.BrokerAddr which clients it registers in the subscription's group
// (GET_CONSUMER_LIST_BY_GROUP, answered from the same consumer table the pull is checked against). When the
// broker answers and does not list the subscription's client instance, the subscription starts and stops a
// throwaway consumer on that instance. If the broker still does not list it at the next check, the checks back
// off up to heartbeatMaxBackoff, so a broker that never will (one outside the topic's route) costs little.
// Each throwaway consumer leaves the client's statistics goroutines behind (client issue #1147), which is
// acceptable at broker-restart rate.
//
// Why a request of our own rather than the pull's answer: rocketmq-client-go (v2, at the pinned commit) offers no
// hook that sees it. The push consumer turns the pull's response code into fmt.Errorf text that reaches only the
// process-wide logger (rlog); the remoting client's interceptors are internal (only ACL registers one) and see
// requests, not responses; consumer interceptors and filter hooks wrap messages already pulled.
const (
	heartbeatCheckInterval = 2 * time.Second
	heartbeatMaxBackoff    = time.Minute
	heartbeatGroup         = "wm-heartbeat-kick"
)

// watchHeartbeat checks every heartbeatCheckInterval that the broker lists the subscription's client in its
// group and kicks a heartbeat when it does not, until stop is closed. It runs in its own goroutine and closes
// sub.watched when it returns.
func (sub *subscription) watchHeartbeat(stop <-chan struct{}) {
	defer close(sub.watched)
	probe := &brokerProbe{addr: sub.s.config.BrokerAddr, timeout: 3 * time.Second}
	defer probe.close()
	wait := heartbeatCheckInterval
	for {
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		listed, err := sub.brokerListsConsumer(probe)
		switch {
		case err != nil:
			// The broker is away or answers oddly: a heartbeat could not help; the client retries its pulls.
			sub.logger.Trace("Cannot check the broker's consumer list", map[string]any{"err": err.Error()})
			wait = heartbeatCheckInterval
		case listed:
			wait = heartbeatCheckInterval
		default:
			sub.kickHeartbeat()
			if wait *= 2; wait > heartbeatMaxBackoff {
				wait = heartbeatMaxBackoff
			}
		}
	}
}

// brokerListsConsumer reports whether the broker registers the subscription's client instance in its group.
func (sub *subscription) brokerListsConsumer(probe *brokerProbe) (bool, error) {
	ids, err := probe.groupClients(sub.group)
	if err != nil {
		return false, err
	}
	for _, id := range ids {
		// A client id is ip@instance; the instance name is unique to this subscription.
		if strings.HasSuffix(id, "@"+sub.instance) {
			return true, nil
		}
	}
	return false, nil
}

// kickHeartbeat makes the subscription's client instance send a heartbeat to every broker it knows, by starting
// and stopping a throwaway consumer on it. It returns when the throwaway consumer has stopped.
func (sub *subscription) kickHeartbeat() {
	pc, err := sub.instanceConsumer(heartbeatGroup)
	if err != nil {
		sub.logger.Debug("Cannot create heartbeat consumer", map[string]any{"err": err.Error()})
		return
	}
	if err := pc.Start(); err != nil {
		sub.logger.Debug("Cannot start heartbeat consumer", map[string]any{"err": err.Error()})
	}
	_ = pc.Shutdown()
	sub.logger.Debug("Sent heartbeat after the broker forgot the consumer", nil)
}

// instanceConsumer creates a consumer of group, subscribed to nothing, on the subscription's client instance: the
// heartbeat kick and the leave helpers (leave.go) start it only for what its Start and Shutdown do to the client.
func (sub *subscription) instanceConsumer(group string) (rocketmq.PushConsumer, error) {
	return rocketmq.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver(sub.s.config.NameServers)),
		consumer.WithGroupName(group),
		consumer.WithInstance(sub.instance),
	)
}
