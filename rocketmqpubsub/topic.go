package rocketmqpubsub

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

const (
	maxTopicLength = 127
	maxGroupLength = 120
)

var nameRe = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// ValidateTopic reports whether the broker accepts topic as a user topic: letters, digits, '_' and '-',
// at most 127 characters ('%' and '|' are reserved for retry and DLQ topics).
func ValidateTopic(topic string) error {
	if len(topic) > maxTopicLength || !nameRe.MatchString(topic) {
		return fmt.Errorf("invalid topic %q: want 1..%d of [a-zA-Z0-9_-]", topic, maxTopicLength)
	}
	return nil
}

// ValidateGroup reports whether group is a valid producer or consumer group name: letters, digits, '_' and
// '-', at most 120 characters.
func ValidateGroup(group string) error {
	if len(group) > maxGroupLength || !nameRe.MatchString(group) {
		return fmt.Errorf("invalid group %q: want 1..%d of [a-zA-Z0-9_-]", group, maxGroupLength)
	}
	return nil
}

// DefaultConsumerGroup is the default SubscriberConfig.GenerateConsumerGroup: "wm-" + topic, shortened with a
// hash when that would exceed the group length limit. Distinct topics get distinct groups.
func DefaultConsumerGroup(topic string) string {
	g := "wm-" + topic
	if len(g) <= maxGroupLength {
		return g
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(topic))
	suffix := fmt.Sprintf("-%016x", h.Sum64())
	return g[:maxGroupLength-len(suffix)] + suffix
}

// EnsureTopic creates topic with the given number of read and write queues on the broker at brokerAddr unless
// the NameServers already route it, then waits until they do. It returns when the topic is routable, or with an
// error when ctx ends first. An existing topic is left as it is. Safe for concurrent use.
func EnsureTopic(ctx context.Context, nameServers []string, brokerAddr, topic string, queues int) error {
	adm, err := topicAdmin(nameServers, topic, queues)
	if err != nil {
		return err
	}
	defer func() { _ = adm.Close() }()

	if routable(ctx, adm, topic) == nil {
		return nil
	}
	var lastErr error
	created := false
	for {
		if !created {
			// CreateTopic ignores the broker's response code, so success is judged by the route only.
			if lastErr = adm.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(brokerAddr),
				admin.WithReadQueueNums(queues), admin.WithWriteQueueNums(queues)); lastErr == nil {
				created = true
			}
		}
		if created {
			if lastErr = routable(ctx, adm, topic); lastErr == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot create topic %s on %s: %w (last error: %v)", topic, brokerAddr, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// topicAdmin checks the arguments of EnsureTopic and EnsureTopicOn and returns an admin client of nameServers;
// the caller closes it.
func topicAdmin(nameServers []string, topic string, queues int) (admin.Admin, error) {
	if err := ValidateTopic(topic); err != nil {
		return nil, err
	}
	if err := validateNameServers(nameServers); err != nil {
		return nil, err
	}
	if queues < 1 {
		return nil, fmt.Errorf("invalid queue count %d for topic %s", queues, topic)
	}
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver(nameServers)))
	if err != nil {
		return nil, fmt.Errorf("cannot create admin client: %w", err)
	}
	return adm, nil
}

// EnsureTopicOn is EnsureTopic for a cluster of brokers: with one address it is EnsureTopic; with several it
// returns at once when the NameServers route queues of topic on as many brokers, and otherwise creates (or
// updates to) topic with the given number of queues on each broker and waits until they do, so the topic's
// queues, and its load, spread over all of them. Safe for concurrent use and idempotent.
func EnsureTopicOn(ctx context.Context, nameServers, brokerAddrs []string, topic string, queues int) error {
	if len(brokerAddrs) <= 1 {
		addr := ""
		if len(brokerAddrs) == 1 {
			addr = brokerAddrs[0]
		}
		return EnsureTopic(ctx, nameServers, addr, topic, queues)
	}
	adm, err := topicAdmin(nameServers, topic, queues)
	if err != nil {
		return err
	}
	defer func() { _ = adm.Close() }()
	lastErr := routedBy(ctx, nameServers, topic, len(brokerAddrs))
	if lastErr == nil {
		return nil
	}
	created := map[string]bool{}
	for {
		for _, b := range brokerAddrs {
			if created[b] {
				continue
			}
			if err := adm.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(b),
				admin.WithReadQueueNums(queues), admin.WithWriteQueueNums(queues)); err != nil {
				lastErr = err
				continue
			}
			created[b] = true
		}
		if len(created) == len(brokerAddrs) {
			if lastErr = routedBy(ctx, nameServers, topic, len(brokerAddrs)); lastErr == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot create topic %s on %v: %w (last error: %v)", topic, brokerAddrs, ctx.Err(), lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// routedBy reports an error unless the NameServers route writable queues of topic on at least brokers brokers.
// It asks through a new admin client each time: a client keeps the first route it fetched for good.
func routedBy(ctx context.Context, nameServers []string, topic string, brokers int) error {
	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver(nameServers)))
	if err != nil {
		return fmt.Errorf("cannot create admin client: %w", err)
	}
	defer func() { _ = adm.Close() }()
	queues, err := adm.FetchPublishMessageQueues(ctx, topic)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, q := range queues {
		names[q.BrokerName] = true
	}
	if len(names) < brokers {
		return fmt.Errorf("topic %s routed by %d of %d brokers", topic, len(names), brokers)
	}
	return nil
}

func routable(ctx context.Context, adm admin.Admin, topic string) error {
	queues, err := adm.FetchPublishMessageQueues(ctx, topic)
	if err != nil {
		return err
	}
	if len(queues) == 0 {
		return errors.New("no writable queue")
	}
	return nil
}
