package handlers

import (
	"errors"
	"fmt"
	"time"

	"github.com/seckill/seckill/events"
)

// Defaults of Config.
const (
	DefaultConsumerGroup  = "seckill-consumer"
	DefaultThrottle       = 1000
	DefaultQuickRetries   = 3
	DefaultPaymentTimeout = 15 * time.Minute
	DefaultCloseTimeout   = 30 * time.Second
)

// DefaultRetrySchedule is RocketMQ's consumer retry schedule (delay levels 3 to 18): 16 retries over about 4h46m.
var DefaultRetrySchedule = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute,
	5 * time.Minute, 6 * time.Minute, 7 * time.Minute, 8 * time.Minute, 9 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
}

// Config configures the consumer router. The zero value is valid: every field but Throttle (off) has a default.
type Config struct {
	// Topic carries the events. Defaults to events.DefaultTopic.
	Topic string
	// ConsumerGroup consumes Topic. Defaults to DefaultConsumerGroup.
	ConsumerGroup string
	// RetryTopic receives failed messages again after a delay; it is consumed by the group of the same name.
	// Defaults to ConsumerGroup + "-retry".
	RetryTopic string
	// DLQTopic receives messages that failed after every retry; it is consumed by the group of the same name,
	// which parks them in tb_dlq. Defaults to ConsumerGroup + "-dlq".
	DLQTopic string
	// TimeoutTopic carries the payment deadlines of new orders; it is consumed by the group of the same name.
	// Defaults to ConsumerGroup + "-timeout".
	TimeoutTopic string
	// Throttle is the most messages per second the router hands to all its handlers together, to protect MySQL;
	// 0 turns it off. (The binary's default is DefaultThrottle.)
	Throttle int
	// QuickRetries is how many times a failing message is retried in process (50 ms, then doubling) before it
	// goes to RetryTopic. Defaults to DefaultQuickRetries; negative means none.
	QuickRetries int
	// RetrySchedule is the delay before each broker-delayed retry; after len(RetrySchedule) retries the next
	// failure parks the message in the DLQ. Defaults to DefaultRetrySchedule.
	RetrySchedule []time.Duration
	// PaymentTimeout is how long a new order waits for payment before it is cancelled. Defaults to
	// DefaultPaymentTimeout.
	PaymentTimeout time.Duration
	// CloseTimeout bounds how long Close waits for handlers in progress. Defaults to DefaultCloseTimeout.
	CloseTimeout time.Duration
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Topic, events.DefaultTopic)
	def(&c.ConsumerGroup, DefaultConsumerGroup)
	def(&c.RetryTopic, c.ConsumerGroup+"-retry")
	def(&c.DLQTopic, c.ConsumerGroup+"-dlq")
	def(&c.TimeoutTopic, c.ConsumerGroup+"-timeout")
	if c.QuickRetries == 0 {
		c.QuickRetries = DefaultQuickRetries
	}
	if c.RetrySchedule == nil {
		c.RetrySchedule = DefaultRetrySchedule
	}
	if c.PaymentTimeout == 0 {
		c.PaymentTimeout = DefaultPaymentTimeout
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
}

// Topics returns the four topics the router consumes or publishes to, defaults applied: Topic, RetryTopic,
// DLQTopic and TimeoutTopic.
func (c Config) Topics() []string {
	c.setDefaults()
	return []string{c.Topic, c.RetryTopic, c.DLQTopic, c.TimeoutTopic}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	topics := map[string]string{"Topic": c.Topic, "RetryTopic": c.RetryTopic, "DLQTopic": c.DLQTopic,
		"TimeoutTopic": c.TimeoutTopic}
	seen := map[string]string{}
	for field, t := range topics {
		if other, ok := seen[t]; ok {
			return fmt.Errorf("handlers config: %s and %s are both %q", field, other, t)
		}
		seen[t] = field
	}
	if c.ConsumerGroup == c.RetryTopic || c.ConsumerGroup == c.DLQTopic || c.ConsumerGroup == c.TimeoutTopic {
		return errors.New("handlers config: ConsumerGroup must differ from the retry, DLQ and timeout groups")
	}
	for i, d := range c.RetrySchedule {
		if d <= 0 {
			return fmt.Errorf("handlers config: RetrySchedule[%d] = %s, want > 0", i, d)
		}
	}
	if c.Throttle < 0 {
		return fmt.Errorf("handlers config: Throttle = %d, want >= 0 (0 turns it off)", c.Throttle)
	}
	if c.PaymentTimeout < 0 || c.CloseTimeout < 0 {
		return errors.New("handlers config: durations must not be negative")
	}
	return nil
}
