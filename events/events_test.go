package events_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/events"
)

// TestOldPayloadsStillDecode holds the "only ever extended" rule: every released payload in testdata/ decodes
// into the current structs with the values it was written with.
func TestOldPayloadsStillDecode(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	start, end := at("2026-11-23T20:00:00Z"), at("2026-11-23T22:00:00Z")
	want := map[string]events.Event{
		"ProductListed.v1.json": &events.ProductListed{EventID: "5b0c1a52-2f3e-4c1e-9a59-1d2f8f7c0a01", ProductID: 1,
			Name: "iPhone 15 Pro", Price: 699900, Stock: 10000, StartTime: &start, EndTime: &end, ListedAt: at("2026-11-23T19:00:00Z")},
		"SeckillReserved.v1.json": &events.SeckillReserved{EventID: "0f8fad5b-d9cb-469f-a165-70867728950e", OrderNo: "SK1-00000001",
			UserID: 1002, ProductID: 1, ProductName: "iPhone 15 Pro", Price: 699900, Quantity: 1, StockBefore: 10000,
			StockAfter: 9999, ReservedAt: at("2026-11-23T20:00:00.022Z")},
		"SeckillOrderPaid.v1.json": &events.SeckillOrderPaid{EventID: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
			OrderNo: "SK1-00000001", UserID: 1002, ProductID: 1, PaidAt: at("2026-11-23T20:03:00Z")},
		"SeckillOrderCancelled.v1.json": &events.SeckillOrderCancelled{EventID: "16fd2706-8baf-433b-82eb-8c7fada847da",
			OrderNo: "SK1-00000002", UserID: 1003, ProductID: 1, Quantity: 1, Reason: events.ReasonPaymentTimeout,
			CancelledAt: at("2026-11-23T20:15:00Z")},
		"SeckillReserved.v2.json": &events.SeckillReserved{EventID: "3d6f4a1e-8c2b-4f0e-9d7a-2b1c5e6f7a80", OrderNo: "SK1-00000003",
			UserID: 1004, ProductID: 1, ProductName: "iPhone 15 Pro", Price: 699900, Quantity: 1, StockBefore: 9999,
			StockAfter: 9998, ReservedAt: at("2026-11-23T20:00:01.5Z"), Seq: 7},
		"SeckillOrderPaid.v2.json": &events.SeckillOrderPaid{EventID: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
			OrderNo: "SK1-00000003", UserID: 1004, ProductID: 1, PaidAt: at("2026-11-23T20:02:00Z"), Seq: 9,
			ProductName: "iPhone 15 Pro", Price: 699900, Quantity: 1},
		"SeckillOrderCancelled.v2.json": &events.SeckillOrderCancelled{EventID: "b7e8f9a0-1b2c-4d3e-8f4a-5b6c7d8e9f01",
			OrderNo: "SK1-00000004", UserID: 1005, ProductID: 1, Quantity: 1, Reason: events.ReasonUser,
			CancelledAt: at("2026-11-23T20:03:00Z"), Seq: 11, StockBefore: 9997, StockAfter: 9998,
			ProductName: "iPhone 15 Pro", Price: 699900},
	}
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < len(events.Types()) {
		t.Fatalf("testdata holds %d golden payloads, want at least one per type (%v)", len(files), events.Types())
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			payload, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			typ, _, _ := strings.Cut(name, ".")
			got, err := events.Decode(typ, payload)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s: add one", name)
			}
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("decoded\n%#v\nwant\n%#v", got, w)
			}
		})
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		typ, payload string
		unknown      bool
	}{
		"unknown type":    {typ: "SeckillTeleported", payload: `{"eventId":"x"}`, unknown: true},
		"not json":        {typ: events.TypeSeckillReserved, payload: `{"eventId":`},
		"missing eventId": {typ: events.TypeSeckillOrderPaid, payload: `{"orderNo":"SK1-1"}`},
		"bad price":       {typ: events.TypeProductListed, payload: `{"eventId":"x","price":1.234}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := events.Decode(c.typ, []byte(c.payload))
			if err == nil {
				t.Fatal("decoded bad input")
			}
			if errors.Is(err, events.ErrUnknownType) != c.unknown {
				t.Fatalf("ErrUnknownType = %v, want %v (%v)", errors.Is(err, events.ErrUnknownType), c.unknown, err)
			}
		})
	}
}

func TestMoney(t *testing.T) {
	for in, want := range map[string]events.Money{"6999": 699900, "6999.5": 699950, "0.01": 1, "12.34": 1234} {
		got, err := events.ParseMoney(in)
		if err != nil || got != want {
			t.Fatalf("ParseMoney(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.234", "1e3", ".5", "1.", "abc", "100000000"} {
		if _, err := events.ParseMoney(bad); err == nil {
			t.Fatalf("ParseMoney(%q) accepted", bad)
		}
	}
	if s := events.Money(699900).String(); s != "6999.00" {
		t.Fatalf("String() = %s", s)
	}
}
