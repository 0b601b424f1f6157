//go:build !race

package rocketmqpubsub

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/apache/rocketmq-client-go/v2/consumer"
)

// raceBuild tells whether the race detector is on (see shutdown_race.go and the subscriber's buffer bound).
const raceBuild = false

// rebalanceQuiesce does nothing outside race builds; shutdown_race.go explains what race builds do instead.
type rebalanceQuiesce struct{}

// raceOptions adds nothing outside race builds.
func (sub *subscription) raceOptions() []consumer.Option { return nil }

func (q *rebalanceQuiesce) arm()                          {}
func (q *rebalanceQuiesce) await(watermill.LoggerAdapter) {}
func (q *rebalanceQuiesce) closeConsumer()                {}
func (q *rebalanceQuiesce) release()                      {}
