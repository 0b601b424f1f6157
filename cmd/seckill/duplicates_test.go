package main

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/rocketmqpubsub"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// TestSecondCopyOfEveryEventTypeThroughTheBrokerChangesNothing: a sale with every event type (the listing,
// reservations, payments, cancellations by the buyer and by the payment timeout) is projected by serve's router;
// then every stored event is published again on the real topic over rocketmqpubsub. The router records each
// second copy as a duplicate, per type, and no row of any table changes.
func TestSecondCopyOfEveryEventTypeThroughTheBrokerChangesNothing(t *testing.T) {
	a := startApp(t, nil)
	id := a.list(40)
	orders := a.buyers(30, id, 1)
	if len(orders) != 30 {
		t.Fatalf("%d orders, want 30", len(orders))
	}
	deadline := sale.Expiry{RDB: schematest.Redis(t)}
	for i, no := range orders {
		switch i % 3 {
		case 0:
			if st := a.pay(no); st != http.StatusOK {
				t.Fatalf("pay %s: %d", no, st)
			}
		case 1:
			if st := a.cancel(no); st != http.StatusOK {
				t.Fatalf("cancel %s: %d", no, st)
			}
		case 2:
			if res, err := deadline.CancelOrder(context.Background(), id, no, events.ReasonPaymentTimeout); err != nil || res.Outcome != schema.Settled {
				t.Fatalf("payment timeout of %s: %v %v", no, res.Outcome, err)
			}
		}
	}
	a.waitFor("every order settled in MySQL", 60*time.Second, func() bool {
		return a.count(`SELECT COUNT(*) FROM tb_seckill_order WHERE product_id = ? AND status <> 0`, id) == 30
	})
	a.drained(id, 30, 30*time.Second)
	before, err := projections.Checksums(context.Background(), a.db.DB)
	if err != nil {
		t.Fatal(err)
	}
	beforeEvents := a.count(`SELECT COUNT(*) FROM tb_event`)

	stored := projectionstest.StoredEvents(t, a.db.DB)
	perType := map[string]int{}
	for _, e := range stored {
		perType[e.EventType()]++
	}
	want := map[string]int{events.TypeProductListed: 1, events.TypeSeckillReserved: 30, events.TypeSeckillOrderPaid: 10,
		events.TypeSeckillOrderCancelled: 20}
	if !reflect.DeepEqual(perType, want) {
		t.Fatalf("stored events per type %v, want %v", perType, want)
	}
	duplicates := func(typ string) float64 {
		return a.metric(fmt.Sprintf(`seckill_events_recorded_total{outcome="duplicate",type=%q}`, typ))
	}
	base := map[string]float64{}
	for typ := range want {
		base[typ] = duplicates(typ)
	}

	pub, err := rocketmqpubsub.NewPublisher(rocketmqpubsub.PublisherConfig{NameServers: []string{schematest.Namesrv(t)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, e := range stored {
		msg, err := eventmsg.ToMessage(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(a.env["SECKILL_TOPIC"], msg); err != nil {
			t.Fatalf("publish the second copy of %s %s: %v", e.EventType(), e.ID(), err)
		}
	}
	for typ, n := range want {
		a.waitFor(fmt.Sprintf("%d second copies of %s recorded as duplicates", n, typ), 60*time.Second, func() bool {
			return duplicates(typ) >= base[typ]+float64(n)
		})
	}
	after, err := projections.Checksums(context.Background(), a.db.DB)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("a second copy changed the tables:\n%v\n%v", before, after)
	}
	if n := a.count(`SELECT COUNT(*) FROM tb_event`); n != beforeEvents {
		t.Fatalf("tb_event holds %d events after the second copies, want %d", n, beforeEvents)
	}
	a.invariants(id)
}
