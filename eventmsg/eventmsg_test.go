package eventmsg_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/seckill/seckill/eventmsg"
	"github.com/seckill/seckill/events"
)

func TestEveryTypeRoundTripsThroughAMessage(t *testing.T) {
	now := time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC)
	all := []events.Event{
		&events.ProductListed{EventID: "a", ProductID: 1, Name: "x", Price: 1, Stock: 1, ListedAt: now},
		&events.SeckillReserved{EventID: "b", OrderNo: "SK1-1", UserID: 2, ProductID: 1, Price: 12345, Quantity: 1, ReservedAt: now, Seq: 1},
		&events.SeckillOrderPaid{EventID: "c", OrderNo: "SK1-1", PaidAt: now, Seq: 2, ProductName: "x", Price: 12345, Quantity: 1},
		&events.SeckillOrderCancelled{EventID: "d", OrderNo: "SK1-1", Reason: events.ReasonUser, CancelledAt: now, Seq: 3,
			StockBefore: 4, StockAfter: 5, ProductName: "x", Price: 12345},
	}
	if len(all) != len(events.Types()) {
		t.Fatalf("test covers %d types, registry has %d", len(all), len(events.Types()))
	}
	for _, e := range all {
		msg, err := eventmsg.ToMessage(e)
		if err != nil {
			t.Fatal(err)
		}
		if msg.UUID != e.ID() || msg.Metadata.Get(eventmsg.MetadataType) != e.EventType() {
			t.Fatalf("message %s/%v does not carry event %s/%s", msg.UUID, msg.Metadata, e.ID(), e.EventType())
		}
		got, err := eventmsg.FromMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip\n%#v\nwant\n%#v", got, e)
		}
	}
}
