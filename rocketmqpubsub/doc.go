// Package rocketmqpubsub is a Watermill Publisher and Subscriber on Apache RocketMQ (4.x/5.x brokers over the
// remoting protocol, github.com/apache/rocketmq-client-go/v2).
//
// Characteristics:
//
//	| Feature             | Implements | Note                                                                        |
//	|---------------------|------------|-----------------------------------------------------------------------------|
//	| ConsumerGroups      | yes        | one group per topic by default (DefaultConsumerGroup), or a fixed group    |
//	| ExactlyOnceDelivery | no         | at least once: rebalances and closes redeliver unacked (and batch-mates)    |
//	| GuaranteedOrder     | no         | per queue one message at a time in offset order, but publishing spreads    |
//	|                     |            | messages over queues and broker retries and rebalances reorder them        |
//	| Persistent          | yes        |                                                                             |
//
// Publishing is synchronous: Publish returns once the broker stored the messages. Consecutive messages of one
// call go out in batches (one queue per batch); messages carrying Watermill delay metadata (components/delay)
// become RocketMQ 5 timer messages, delivered at the requested time (the broker's timer wheel must be enabled).
// A send that finds no route to its topic (the NameServer unreachable for a moment, a topic just created) is
// tried again for up to PublisherConfig.RouteWait.
//
// Messages: the payload is the body, the UUID is the property WM_UUID and the Keys, each metadata entry is the
// property "wm_"+key (empty values included), and the metadata "name" is also the tag. Keys and values the
// property encoding cannot carry are rejected, never altered; see DefaultMarshaler.
//
// Subscribing: each Subscribe call starts a push consumer with its own client instance in clustering mode.
// A missing topic is created (SubscribeInitialize, EnsureTopic); a new group starts at the first offset. The
// output channel is unbuffered and hands out the messages of one queue one at a time: the next follows only
// after Ack or Nack. Ack commits; Nack redelivers locally after NackResendSleep. A message that cannot be handed
// out (the subscription ended, the Marshaler failed or panicked) is not committed: the broker redelivers it
// later, through the group's retry topic or from the last committed offset. Broker facts of a received message
// are in its context: MessageIDFromCtx, QueueIDFromCtx, QueueOffsetFromCtx, ReconsumeTimesFromCtx.
//
// After a broker restart, the broker has forgotten every consumer until the client's next heartbeat (up to 30 s).
// Each subscription asks BrokerAddr every 2 s whether it still registers the subscription's consumer, and makes
// the client send its heartbeat at once when it does not.
//
// The package holds no state of its own outside the values it returns.
//
// Logging goes through the watermill.LoggerAdapter given to each constructor; the client library's own
// process-wide logs are discarded unless RedirectClientLogs is called.
package rocketmqpubsub
