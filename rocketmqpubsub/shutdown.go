//go:build !race

package rocketmqpubsub

import "github.com/apache/rocketmq-client-go/v2/consumer"

// raceBuild tells whether the race detector is on (see shutdown_race.go and the subscriber's buffer bound).
const raceBuild = false

// rebalanceQuiesce is empty outside race builds; shutdown_race.go explains what race builds do instead.
type rebalanceQuiesce struct{}

// raceOptions adds nothing outside race builds.
func (sub *subscription) raceOptions() []consumer.Option { return nil }

// prepareShutdown does nothing outside race builds.
func (sub *subscription) prepareShutdown() error { return nil }

// shutdownConsumer shuts the subscription's consumer (and with it its client instance) down.
func (sub *subscription) shutdownConsumer() error { return sub.consumer.Shutdown() }
