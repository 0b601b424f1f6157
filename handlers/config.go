package handlers

import (
	"errors"
	"fmt"
	"time"
)

// DefaultRetrySchedule is RocketMQ's consumer retry schedule (delay levels 3 to 18): 16 retries over about 4h46m.
var DefaultRetrySchedule = []time.Duration{
	10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute,
	5 * time.Minute, 6 * time.Minute, 7 * time.Minute, 8 * time.Minute, 9 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour,
}

// Config configures the consumer router. The zero value is valid: every field has a default.
type Config struct {
	// Topic carries the events. Defaults to "seckill-topic".
	Topic string
	// ConsumerGroup consumes Topic. Defaults to "seckill-consumer".
	ConsumerGroup string
	// RetryTopic receives failed messages again after a delay; it is consumed by the group of the same name.
	// Defaults to "seckill-consumer-retry".
	RetryTopic string
	// DLQTopic receives messages that failed after every retry; it is consumed by the group of the same name,
	// which parks them in tb_dlq. Defaults to "seckill-consumer-dlq".
	DLQTopic string
	// TimeoutTopic carries the payment deadlines of new orders; it is consumed by the group of the same name.
	// Defaults to "seckill-payment-timeout".
	TimeoutTopic string
	// Throttle is the most messages per second the router hands to all its handlers together, to protect MySQL.
	// Defaults to 1000; negative turns it off.
	Throttle int
	// QuickRetries is how many times a failing message is retried in process (50 ms, then doubling) before it
	// goes to RetryTopic. Defaults to 3; negative means none.
	QuickRetries int
	// RetrySchedule is the delay before each broker-delayed retry; after len(RetrySchedule) retries the next
	// failure parks the message in the DLQ. Defaults to DefaultRetrySchedule.
	RetrySchedule []time.Duration
	// PaymentTimeout is how long a new order waits for payment before it is cancelled. Defaults to 15m.
	PaymentTimeout time.Duration
	// CloseTimeout bounds how long Close waits for handlers in progress. Defaults to 30s.
	CloseTimeout time.Duration
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Topic, "seckill-topic")
	def(&c.ConsumerGroup, "seckill-consumer")
	def(&c.RetryTopic, "seckill-consumer-retry")
	def(&c.DLQTopic, "seckill-consumer-dlq")
	def(&c.TimeoutTopic, "seckill-payment-timeout")
	if c.Throttle == 0 {
		c.Throttle = 1000
	}
	if c.QuickRetries == 0 {
		c.QuickRetries = 3
	}
	if c.RetrySchedule == nil {
		c.RetrySchedule = DefaultRetrySchedule
	}
	if c.PaymentTimeout == 0 {
		c.PaymentTimeout = 15 * time.Minute
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
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
	if c.PaymentTimeout < 0 || c.CloseTimeout < 0 {
		return errors.New("handlers config: durations must not be negative")
	}
	return nil
}
