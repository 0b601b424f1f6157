package rocketmqpubsub

import (
	"fmt"

	"github.com/apache/rocketmq-client-go/v2"
)

// How a subscription leaves its consumer group.
//
// rocketmq-client-go never tells the broker that a consumer left: the broker drops a client's registrations when
// the client's connection to it closes, which the client's Shutdown does. But a heartbeat that still lists the
// consumer can run concurrently with that Shutdown: a rebalance sends one whenever the queues it allocates change,
// and the broker asks every member of a group to rebalance whenever one joins or leaves. If the heartbeat finds
// the client's connection closed and dropped from its table, it dials a new one, which nothing closes. The broker
// then lists the closed consumer in its group until the registration expires (120 s without a heartbeat) and
// allocates it its share of the queues, whose messages wait that long: Watermill's TestConcurrentClose, which
// closes ten subscriptions of one group at once, missed half its messages in about one run in eight.
//
// So a subscription's consumer never shuts its client instance down itself:
//  1. a keeper consumer (leaveKeeperGroup, subscribed to nothing) starts on the same client instance, so that the
//     consumer's Shutdown leaves the client and its connections running;
//  2. the consumer shuts down: it leaves the client's consumer table, drops its queues and persists the offsets
//     of acked messages;
//  3. a flush consumer (leaveFlushGroup) starts and stops: its Start sends a heartbeat under the client's
//     heartbeat lock, so every heartbeat that was built before step 2 has been sent, and none built later lists
//     the consumer;
//  4. the keeper shuts down, the client's last consumer: the client closes every connection it holds, among them
//     every connection a heartbeat listing the consumer went through (one the client dropped from its table it
//     closed already), and the broker drops the consumer's registrations.
//
// Both helpers are created with the subscription, before its client starts: creating a consumer on a running
// client races with the client's route updater (shutdown_race.go).
const (
	leaveKeeperGroup = "wm-leave-keeper"
	leaveFlushGroup  = "wm-leave-flush"
)

// leaveHelpers are the keeper and flush consumers of one subscription's client instance.
type leaveHelpers struct {
	keeper, flush rocketmq.PushConsumer
}

// prepareShutdown creates the subscription's leave helpers on its client instance, which must not be started yet.
func (sub *subscription) prepareShutdown() error {
	var err error
	if sub.leave.keeper, err = sub.instanceConsumer(leaveKeeperGroup); err != nil {
		return fmt.Errorf("create the keeper consumer of instance %s: %w", sub.instance, err)
	}
	if sub.leave.flush, err = sub.instanceConsumer(leaveFlushGroup); err != nil {
		return fmt.Errorf("create the flush consumer of instance %s: %w", sub.instance, err)
	}
	return nil
}

// shutdownConsumer shuts the subscription's consumer and its client instance down so that the broker no longer
// lists the consumer in its group when it returns (the four steps above). Called once, by run.
func (sub *subscription) shutdownConsumer() error {
	sub.quiesce.arm()
	defer sub.quiesce.release()
	if err := sub.leave.keeper.Start(); err != nil {
		sub.logger.Debug("Cannot start the consumer that keeps the client running", map[string]any{"err": err.Error()})
	}
	sub.quiesce.await(sub.logger)
	err := sub.consumer.Shutdown()
	sub.quiesce.closeConsumer()
	if err := sub.leave.flush.Start(); err != nil {
		sub.logger.Debug("Cannot start the consumer that flushes heartbeats", map[string]any{"err": err.Error()})
	}
	_ = sub.leave.flush.Shutdown()
	_ = sub.leave.keeper.Shutdown()
	return err
}
