//go:build race

package rocketmqpubsub

import (
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
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
// that can hold a rebalance still, and leave the group (leave.go) inside such a hold:
//  1. ask the next rebalance of this consumer to park in the strategy;
//  2. start the keeper consumer, whose Start triggers a rebalance of every consumer of the client instance. The
//     keeper is created with the subscription, before the client starts: creating a consumer on a running
//     client races too (GetOrNewRocketMQClient rewrites the name server's bundleClient while the client's route
//     updater reads it);
//  3. when it has parked, every earlier rebalance has finished (the client's mutex) and its reads happened
//     before the park; no other can start until the park ends (the flush consumer's waits for it);
//  4. shut the consumer down, flush heartbeats and shut the keeper down, which shuts the client down (the racy
//     write), then let the parked rebalance go on: it allocates nothing, and whatever it does afterwards is
//     ordered after the write.
//
// The client's other readers of the flag read it before releasing a lock that Shutdown takes before it writes
// the flag: persisting offsets holds the offset store's mutex, sending a message back is followed by removing
// it from its process queue under the queue's mutex. So they are ordered already.
//
// If no rebalance parks within quiesceTimeout (the broker is away and the rebalance fails before allocating),
// the group is left anyway, and the race may be reported. Production builds skip all this (shutdown.go). One
// client race remains in race builds, on a path the -short suite does not take: the heartbeat kick after a
// broker restart (heartbeat.go) creates a consumer on a running client.
const quiesceTimeout = 5 * time.Second

// rebalanceQuiesce holds a rebalance of the subscription's consumer still while the subscription leaves its group.
type rebalanceQuiesce struct {
	mu     sync.Mutex
	parked chan struct{} // closed by the rebalance that parks; nil when none is asked to
	armed  chan struct{} // the parked channel of the last arm, for await
	resume chan struct{} // closed to let the parked rebalance go on
	closed bool          // the consumer is shut down: allocate nothing
}

func (sub *subscription) raceOptions() []consumer.Option {
	return []consumer.Option{consumer.WithStrategy(sub.quiesce.allocate)}
}

// allocate is AllocateByAveragely, except that it parks when asked to and allocates nothing once the
// consumer is shut down.
func (q *rebalanceQuiesce) allocate(group, cid string, mqAll []*primitive.MessageQueue, cidAll []string) []*primitive.MessageQueue {
	q.mu.Lock()
	parked, resume := q.parked, q.resume
	q.parked = nil
	q.mu.Unlock()
	if parked != nil {
		close(parked)
		<-resume
	}
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return nil
	}
	return consumer.AllocateByAveragely(group, cid, mqAll, cidAll)
}

// arm asks the next rebalance of the consumer to park until release.
func (q *rebalanceQuiesce) arm() {
	q.mu.Lock()
	q.parked, q.resume = make(chan struct{}), make(chan struct{})
	q.armed = q.parked
	q.mu.Unlock()
}

// await waits until the armed rebalance has parked, or quiesceTimeout.
func (q *rebalanceQuiesce) await(logger watermill.LoggerAdapter) {
	q.mu.Lock()
	parked := q.armed
	q.mu.Unlock()
	select {
	case <-parked:
	case <-time.After(quiesceTimeout):
		q.mu.Lock()
		q.parked = nil
		q.mu.Unlock()
		logger.Debug("No rebalance to hold still; leaving the group anyway", nil)
	}
}

// closeConsumer makes every later rebalance of the consumer allocate nothing.
func (q *rebalanceQuiesce) closeConsumer() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// release lets the parked rebalance go on.
func (q *rebalanceQuiesce) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.resume != nil {
		close(q.resume)
		q.resume = nil
	}
}
