//go:build race

package rocketmqpubsub

import (
	"fmt"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// raceBuild tells whether the race detector is on.
const raceBuild = true

// Race builds only. rocketmq-client-go races in its own consumer shutdown: rmqClient.Shutdown writes the
// client's `close` flag while a rebalance still running on the client's goroutines reads it (rmqClient.InvokeSync,
// e.g. fetching a queue's offset), with nothing ordering the two. The race is benign (a late reader sees the
// flag a little later and its call fails with ErrServiceState anyway), but the race detector reports it in any
// test that closes a consumer soon after a rebalance, and it has no suppressions.
//
// Every rebalance of a client runs under one client-wide mutex and, for this consumer, calls its allocation
// strategy after its network reads. So race builds install a strategy (AllocateByAveragely, as by default)
// that can hold a rebalance still, and shut the consumer down inside such a hold:
//  1. ask the next rebalance of this consumer to park in the strategy;
//  2. start and stop a throwaway consumer on the same client instance, whose Start triggers a rebalance of
//     every consumer of the instance. It is created with the subscription, before the client starts: creating
//     a consumer on a running client races too (GetOrNewRocketMQClient rewrites the name server's bundleClient
//     while the client's route updater reads it);
//  3. when it has parked, every earlier rebalance has finished (the client's mutex) and its reads happened
//     before the park; no other can start until the park ends;
//  4. shut the consumer down (the racy write), then let the parked rebalance go on: it allocates nothing, and
//     whatever it does afterwards is ordered after the write.
//
// The client's other readers of the flag read it before releasing a lock that Shutdown takes before it writes
// the flag: persisting offsets holds the offset store's mutex, sending a message back is followed by removing
// it from its process queue under the queue's mutex. So they are ordered already.
//
// If no rebalance parks within quiesceTimeout (the broker is away and the rebalance fails before allocating),
// the consumer is shut down anyway, and the race may be reported. Production builds skip all this: they call
// Shutdown directly (shutdown.go). One client race remains in race builds, on a path the -short suite does not
// take: the heartbeat kick after a broker restart (heartbeat.go) creates a consumer on a running client.
const quiesceTimeout = 5 * time.Second

// rebalanceQuiesce holds a rebalance of the subscription's consumer still while the consumer shuts down.
type rebalanceQuiesce struct {
	trigger rocketmq.PushConsumer // the throwaway consumer whose Start triggers the rebalance

	mu      sync.Mutex
	parked  chan struct{} // closed by the rebalance that parks; nil when none is asked to
	release chan struct{} // closed to let the parked rebalance go on
	closed  bool          // the consumer is shut down: allocate nothing
}

func (sub *subscription) raceOptions() []consumer.Option {
	return []consumer.Option{consumer.WithStrategy(sub.quiesce.allocate)}
}

// prepareShutdown creates the throwaway consumer on the subscription's client instance, which must not be
// started yet.
func (sub *subscription) prepareShutdown() error {
	pc, err := rocketmq.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver(sub.s.config.NameServers)),
		consumer.WithGroupName(heartbeatGroup),
		consumer.WithInstance(sub.instance),
	)
	if err != nil {
		return fmt.Errorf("create the consumer that triggers the last rebalance: %w", err)
	}
	sub.quiesce.trigger = pc
	return nil
}

// allocate is AllocateByAveragely, except that it parks when asked to and allocates nothing once the
// consumer is shut down.
func (q *rebalanceQuiesce) allocate(group, cid string, mqAll []*primitive.MessageQueue, cidAll []string) []*primitive.MessageQueue {
	q.mu.Lock()
	parked, release := q.parked, q.release
	q.parked = nil
	q.mu.Unlock()
	if parked != nil {
		close(parked)
		<-release
	}
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return nil
	}
	return consumer.AllocateByAveragely(group, cid, mqAll, cidAll)
}

func (sub *subscription) shutdownConsumer() error {
	q := &sub.quiesce
	parked, release := make(chan struct{}), make(chan struct{})
	q.mu.Lock()
	q.parked, q.release = parked, release
	q.mu.Unlock()
	defer close(release)
	if err := q.trigger.Start(); err != nil {
		sub.logger.Debug("Cannot start the consumer that triggers the last rebalance", map[string]any{"err": err.Error()})
	}
	_ = q.trigger.Shutdown()
	select {
	case <-parked:
	case <-time.After(quiesceTimeout):
		q.mu.Lock()
		q.parked = nil
		q.mu.Unlock()
		sub.logger.Debug("No rebalance to hold still; shutting the consumer down anyway", nil)
	}
	err := sub.consumer.Shutdown()
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	return err
}
