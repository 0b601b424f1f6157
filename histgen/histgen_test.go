package histgen_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/histgen"
)

func collect(t *testing.T, o histgen.Options) []events.Event {
	t.Helper()
	hist, err := histgen.History(o)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Collect(hist)
}

// TestHistoryIsReproducible: equal options give equal events, event ids included; another seed another history.
func TestHistoryIsReproducible(t *testing.T) {
	o := histgen.Options{Events: 500, Products: 2, PayShare: 0.5, CancelShare: 0.3, Seed: 9}
	a, b := collect(t, o), collect(t, o)
	if len(a) != o.Events || !reflect.DeepEqual(a, b) {
		t.Fatalf("two histories of equal options differ (%d and %d events)", len(a), len(b))
	}
	o.Seed++
	if reflect.DeepEqual(a, collect(t, o)) {
		t.Fatal("another seed gave the same history")
	}
}

// TestHistoryIsWhatRedisWouldHaveDecided: per product, seq runs 1, 2, 3 … over reservations, payments and
// cancellations; each stock change starts from the stock the previous one left, which never goes below zero;
// a payment or cancellation settles a reservation still awaiting payment; a buyer holds at most one live order
// of a product.
func TestHistoryIsWhatRedisWouldHaveDecided(t *testing.T) {
	type order struct {
		user, product int64
		settled       bool
	}
	stock, seq := map[int64]int64{}, map[int64]int64{}
	orders := map[string]*order{}
	live := map[[2]int64]string{}
	step := func(product, s, before, after int64) {
		t.Helper()
		if s != seq[product]+1 {
			t.Fatalf("product %d: seq %d after %d", product, s, seq[product])
		}
		seq[product] = s
		if before != stock[product] || after < 0 {
			t.Fatalf("product %d seq %d: stock %d → %d, but it stood at %d", product, s, before, after, stock[product])
		}
		stock[product] = after
	}
	settle := func(no string, product int64) *order {
		t.Helper()
		o := orders[no]
		if o == nil || o.settled || o.product != product {
			t.Fatalf("order %s settled but not awaiting payment", no)
		}
		o.settled = true
		return o
	}
	for _, e := range collect(t, histgen.Options{Events: 3000, Products: 3, PayShare: 0.4, CancelShare: 0.4, Seed: 5}) {
		switch v := e.(type) {
		case *events.ProductListed:
			stock[v.ProductID] = v.Stock
		case *events.SeckillReserved:
			step(v.ProductID, v.Seq, v.StockBefore, v.StockAfter)
			key := [2]int64{v.UserID, v.ProductID}
			if prev, ok := live[key]; ok {
				t.Fatalf("buyer %d reserves %s while %s is live", v.UserID, v.OrderNo, prev)
			}
			live[key] = v.OrderNo
			orders[v.OrderNo] = &order{user: v.UserID, product: v.ProductID}
		case *events.SeckillOrderPaid:
			settle(v.OrderNo, v.ProductID)
			if v.Seq != seq[v.ProductID]+1 {
				t.Fatalf("payment %s: seq %d after %d", v.OrderNo, v.Seq, seq[v.ProductID])
			}
			seq[v.ProductID] = v.Seq
		case *events.SeckillOrderCancelled:
			o := settle(v.OrderNo, v.ProductID)
			step(v.ProductID, v.Seq, v.StockBefore, v.StockAfter)
			if v.StockAfter != v.StockBefore+v.Quantity {
				t.Fatalf("cancellation %s returns %d units, carries %d", v.OrderNo, v.StockAfter-v.StockBefore, v.Quantity)
			}
			delete(live, [2]int64{o.user, o.product})
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, o := range map[string]histgen.Options{
		"no events":          {},
		"more products":      {Events: 2, Products: 3},
		"shares over 1":      {Events: 10, PayShare: 0.7, CancelShare: 0.4},
		"negative pay share": {Events: 10, PayShare: -0.1},
	} {
		if _, err := histgen.History(o); err == nil {
			t.Errorf("%s: History accepted %+v", name, o)
		}
	}
}
