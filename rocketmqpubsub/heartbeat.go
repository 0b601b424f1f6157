package rocketmqpubsub

import (
	"strings"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// After a broker restart the broker has forgotten the consumers, and every pull fails with "the consumer's
// group info not exist" (code 24) until the client's next heartbeat, up to 30 s later; the client has no
// public way to send one sooner. Starting any consumer on the same client instance sends a heartbeat for all
// consumers of that instance, so when the client logs that error, every live subscription starts and stops a
// throwaway consumer on its instance, at most once per heartbeatKickInterval. Each throwaway consumer leaves
// the client's statistics goroutines behind (client issue #1147), which is acceptable at broker-restart rate.
const (
	heartbeatKickInterval = 2 * time.Second
	heartbeatGroup        = "wm-heartbeat-kick"
	groupNotExistError    = "Response Code: 24,"
)

var liveSubscriptions sync.Map // *subscription → struct{}

// onClientWarning inspects the client's warnings for the pull error that a heartbeat cures.
func onClientWarning(msg string, fields map[string]interface{}) {
	if msg != "pull message from broker error" {
		return
	}
	if e, _ := fields["underlayError"].(string); !strings.Contains(e, groupNotExistError) {
		return
	}
	liveSubscriptions.Range(func(k, _ any) bool {
		k.(*subscription).kickHeartbeat()
		return true
	})
}

// kickHeartbeat makes the subscription's client instance send a heartbeat, unless one was sent recently or
// the subscription is ending. It does not block.
func (sub *subscription) kickHeartbeat() {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.noKicks || sub.kicking || time.Since(sub.lastKick) < heartbeatKickInterval {
		return
	}
	sub.kicking = true
	sub.lastKick = time.Now()
	sub.kicks.Add(1)
	go func() {
		defer sub.kicks.Done()
		defer func() {
			sub.mu.Lock()
			sub.kicking = false
			sub.mu.Unlock()
		}()
		pc, err := rocketmq.NewPushConsumer(
			consumer.WithNsResolver(primitive.NewPassthroughResolver(sub.s.config.NameServers)),
			consumer.WithGroupName(heartbeatGroup),
			consumer.WithInstance(sub.instance),
		)
		if err != nil {
			sub.logger.Debug("Cannot create heartbeat consumer", map[string]any{"err": err.Error()})
			return
		}
		if err := pc.Start(); err != nil {
			sub.logger.Debug("Cannot start heartbeat consumer", map[string]any{"err": err.Error()})
		}
		_ = pc.Shutdown()
		sub.logger.Debug("Sent heartbeat after the broker forgot the consumer group", nil)
	}()
}
