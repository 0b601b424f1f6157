package sale_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/google/uuid"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/sale"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

func TestExpiryCancelsOnce(t *testing.T) {
	ctx := context.Background()
	rdb := schematest.RedisDB(t, schematest.RedisDBHandlers) // no relay walks it: the outbox assertions hold
	id := schematest.ProductID(t, rdb)
	if _, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: id, Name: "x", Price: 100, Stock: 5, Listed: 5}); err != nil {
		t.Fatal(err)
	}
	r, err := schema.Reserve(ctx, rdb, id, 42, 1, uuid.NewString(), time.Now())
	if err != nil || r.Outcome != schema.Reserved {
		t.Fatalf("reserve: %+v, %v", r, err)
	}
	pub := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 8, Persistent: true}, watermill.NopLogger{})
	defer pub.Close()
	msgs, err := pub.Subscribe(ctx, "seckill-topic")
	if err != nil {
		t.Fatal(err)
	}
	s := sale.Expiry{RDB: rdb, Publisher: pub, Topic: "seckill-topic"}
	want := []schema.Outcome{schema.Settled, schema.NotAwaitingPayment}
	for i := range 2 {
		res, err := s.CancelOrder(ctx, id, r.OrderNo, events.ReasonPaymentTimeout)
		if err != nil || res.Outcome != want[i] {
			t.Fatalf("cancel %d: %+v, %v; want %s", i, res, err, want[i])
		}
	}
	if res, err := s.CancelOrder(ctx, id, "SK-unknown", events.ReasonPaymentTimeout); err != nil || res.Outcome != schema.UnknownOrder {
		t.Fatalf("unknown order: %+v, %v", res, err)
	}
	if stock, err := rdb.Get(ctx, schema.KeysFor(id).Stock).Int64(); err != nil || stock != 5 {
		t.Fatalf("stock %d (%v), want 5: cancelled exactly once", stock, err)
	}
	// The cancellation is published at once and leaves the outbox (only the reservation, never delivered here,
	// stays).
	select {
	case msg := <-msgs:
		e, err := eventmsg.FromMessage(msg)
		c, ok := e.(*events.SeckillOrderCancelled)
		if err != nil || !ok || c.OrderNo != r.OrderNo || c.Seq != 2 || c.StockAfter != 5 {
			t.Fatalf("published %#v, %v", e, err)
		}
		msg.Ack()
	case <-time.After(5 * time.Second):
		t.Fatal("the cancellation was not published")
	}
	if n, err := rdb.XLen(ctx, schema.KeysFor(id).Outbox).Result(); err != nil || n != 1 {
		t.Fatalf("outbox holds %d entries (%v), want the reservation only", n, err)
	}
}
