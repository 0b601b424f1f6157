package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/schema/schematest"
)

func (a *app) seckill(args ...string) (string, error) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, args, envOf(a.env), &out, &out)
	return out.String(), err
}

// TestPoisonEventReachesTheDLQWhileHealthyEventsFlow: a payment whose order number is longer than
// tb_seckill_order.order_no (schematest.PoisonPayment) fails every time it is applied, with an error that is not
// permanent. It is retried 16 times on the (shortened) schedule and parked, while 1,000 healthy reservations are
// projected meanwhile; once its cause is gone (an operator widens the column in this test's own database,
// schematest.WidenOrderNo), `seckill dlq redrive` applies it, and a second redrive sends nothing.
func TestPoisonEventReachesTheDLQWhileHealthyEventsFlow(t *testing.T) {
	a := startApp(t, nil)
	id := a.list(1000)
	poison := schematest.PoisonPayment(id)
	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: []string{schematest.Namesrv(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	msg, _ := eventmsg.ToMessage(poison)
	if err := pub.Publish(a.env["SECKILL_TOPIC"], msg); err != nil {
		t.Fatal(err)
	}
	if orders := a.buyers(1000, id, 1); len(orders) != 1000 {
		t.Fatalf("%d reservations, want 1000", len(orders))
	}
	a.drained(id, 1000, 60*time.Second)

	a.waitFor("the poison event parked in the DLQ", 90*time.Second, func() bool {
		out, err := a.seckill("dlq", "list")
		return err == nil && strings.Contains(out, poison.EventID)
	})
	out, _ := a.seckill("dlq", "list")
	if !strings.Contains(out, "SeckillOrderPaid") || !strings.Contains(out, " 16 ") || !strings.Contains(out, "1 parked events") {
		t.Fatalf("dlq list:\n%s\nwant the payment, 16 retries", out)
	}
	if v := a.metric(`seckill_handler_retries_total{handler="project_events_retry"}`) + a.metric(`seckill_handler_retries_total{handler="project_events"}`); v < 16 {
		t.Errorf("retries counted %v, want ≥ 16", v)
	}
	if n := a.count(`SELECT COUNT(*) FROM tb_event WHERE event_id = ?`, poison.EventID); n != 0 {
		t.Fatalf("the parked payment is in tb_event %d times, want 0 (its transaction rolled back)", n)
	}

	if _, err := a.db.DB.Exec(schematest.WidenOrderNo); err != nil {
		t.Fatal(err)
	}
	out, err = a.seckill("dlq", "redrive")
	if err != nil || !strings.Contains(out, "re-drove 1 ") {
		t.Fatalf("redrive: %v\n%s", err, out)
	}
	a.orderIn(poison.OrderNo, 1, 30*time.Second)
	out, err = a.seckill("dlq", "redrive")
	if err != nil || !strings.Contains(out, "re-drove 0 ") {
		t.Fatalf("second redrive: %v\n%s", err, out)
	}
	if out, _ := a.seckill("dlq", "list"); !strings.Contains(out, "0 parked events") {
		t.Fatalf("dlq after redrive:\n%s", out)
	}
}
