// Command rmqprobe tells scripts/services.sh whether a RocketMQ broker really answers: the broker is registered
// with the NameServer, a probe topic is routable, and (unless -quick) one message is stored. It exits 0 when all
// hold within -timeout and 1 otherwise, naming what failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

const probeTopic = "seckill-probe"

func main() {
	namesrv := flag.String("namesrv", "127.0.0.1:9876", "NameServer address")
	broker := flag.String("broker", "127.0.0.1:10911", "broker address")
	quick := flag.Bool("quick", false, "only check registration and routing, send nothing")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	rlog.SetLogLevel("fatal")

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := probe(ctx, *namesrv, *broker, *quick); err != nil {
		fmt.Fprintf(os.Stderr, "rmqprobe: %v\n", err)
		os.Exit(1)
	}
}

func probe(ctx context.Context, namesrv, broker string, quick bool) error {
	resolver := primitive.NewPassthroughResolver([]string{namesrv})
	adm, err := admin.NewAdmin(admin.WithResolver(resolver))
	if err != nil {
		return fmt.Errorf("create admin client: %w", err)
	}
	defer adm.Close()

	if err := poll(ctx, "broker registered with the namesrv", func() error {
		brokers, err := adm.FetchClusterList("DefaultCluster")
		if err == nil && len(brokers) == 0 {
			err = errors.New("no broker in DefaultCluster")
		}
		return err
	}); err != nil {
		return err
	}
	if err := poll(ctx, "probe topic routable", func() error {
		if err := adm.CreateTopic(ctx, admin.WithTopicCreate(probeTopic), admin.WithBrokerAddrCreate(broker),
			admin.WithReadQueueNums(1), admin.WithWriteQueueNums(1)); err != nil {
			return err
		}
		queues, err := adm.FetchPublishMessageQueues(ctx, probeTopic)
		if err == nil && len(queues) == 0 {
			err = errors.New("no queues")
		}
		return err
	}); err != nil {
		return err
	}
	if quick {
		return nil
	}

	p, err := producer.NewDefaultProducer(producer.WithNsResolver(resolver), producer.WithRetry(2),
		producer.WithGroupName("seckill-probe"), producer.WithInstanceName(fmt.Sprintf("rmqprobe-%d", os.Getpid())))
	if err != nil {
		return fmt.Errorf("create producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("start producer: %w", err)
	}
	defer func() { _ = p.Shutdown() }()
	return poll(ctx, "probe message stored", func() error {
		res, err := p.SendSync(ctx, primitive.NewMessage(probeTopic, []byte("probe")))
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("send status %d", res.Status)
		}
		return err
	})
}

func poll(ctx context.Context, what string, try func() error) error {
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
