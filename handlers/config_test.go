package handlers_test

import (
	"reflect"
	"testing"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/handlers"
)

// TestConfigTopicsDeriveFromTheGroup: the retry, DLQ and timeout topics are named after the consumer group
// unless set, so one SECKILL_CONSUMER_GROUP names them all.
func TestConfigTopicsDeriveFromTheGroup(t *testing.T) {
	for _, c := range []struct {
		cfg  handlers.Config
		want []string
	}{
		{handlers.Config{}, []string{events.DefaultTopic, handlers.DefaultConsumerGroup + "-retry",
			handlers.DefaultConsumerGroup + "-dlq", handlers.DefaultConsumerGroup + "-timeout"}},
		{handlers.Config{Topic: "t", ConsumerGroup: "g"}, []string{"t", "g-retry", "g-dlq", "g-timeout"}},
		{handlers.Config{ConsumerGroup: "g", DLQTopic: "parked"}, []string{events.DefaultTopic, "g-retry", "parked", "g-timeout"}},
	} {
		if got := c.cfg.Topics(); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: topics %v, want %v", c.cfg, got, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	valid := handlers.Config{Topic: "t", ConsumerGroup: "g", RetryTopic: "r", DLQTopic: "d", TimeoutTopic: "o"}
	if err := valid.Validate(); err != nil {
		t.Fatalf("%+v: %v", valid, err)
	}
	for name, change := range map[string]func(*handlers.Config){
		"negative throttle (0 turns it off)": func(c *handlers.Config) { c.Throttle = -1 },
		"two roles on one topic":             func(c *handlers.Config) { c.RetryTopic = c.Topic },
		"the group on the DLQ's topic":       func(c *handlers.Config) { c.ConsumerGroup = c.DLQTopic },
	} {
		c := valid
		change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: %+v accepted", name, c)
		}
	}
}
