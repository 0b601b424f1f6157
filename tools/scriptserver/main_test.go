package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// serve lists a fresh product with stock units in the test Redis and serves reserveHandler on it, the scripts
// sent one EVALSHA per request or through the AutoPipeline.
func serve(t *testing.T, stock int64, auto bool) (*httptest.Server, *redis.Client, schema.Keys) {
	t.Helper()
	rdb := schematest.Redis(t)
	product := schematest.ProductID(t, rdb)
	ctx := context.Background()
	if err := listProduct(ctx, rdb, product, stock); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unlist(rdb, product) })
	if in, err := rdb.SIsMember(ctx, schema.ProductsKey, product).Result(); err != nil || in {
		t.Fatalf("product %d in %s: %v %v; the relays of other servers would publish its reservations", product, schema.ProductsKey, in, err)
	}
	var s redis.Scripter = rdb
	if auto {
		ap, err := rdb.AutoPipeline()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ap.Close() })
		s = ap
	}
	srv := httptest.NewServer(reserveHandler(s, product))
	t.Cleanup(srv.Close)
	return srv, rdb, schema.KeysFor(product)
}

func kill(t *testing.T, url string, user int64) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(fmt.Sprintf(`{"userId":%d,"productId":1,"quantity":1}`, user)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Code int
		Data struct{ OrderNo string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Code != resp.StatusCode {
		t.Fatalf("answer %d: %+v %v", resp.StatusCode, env, err)
	}
	return resp.StatusCode, env.Data.OrderNo
}

// TestARequestReservesExactlyOnce, plain and through the AutoPipeline: a buyer's first request runs reserve.lua
// and reserves one unit (stock down by one, the buyer marked with the order, one SeckillReserved in the outbox);
// the same buyer again is 409 and changes nothing.
func TestARequestReservesExactlyOnce(t *testing.T) {
	for _, auto := range []bool{false, true} {
		t.Run(fmt.Sprintf("autopipeline=%v", auto), func(t *testing.T) {
			srv, rdb, k := serve(t, 100_000_000, auto)
			ctx := context.Background()
			code, order := kill(t, srv.URL, 42)
			if code != http.StatusOK || order == "" {
				t.Fatalf("first request: %d %q, want 200 with an order", code, order)
			}
			check := func(when string) {
				if stock, _ := rdb.Get(ctx, k.Stock).Int64(); stock != 99_999_999 {
					t.Errorf("%s: stock %d, want 99999999", when, stock)
				}
				if held, _ := rdb.HGet(ctx, k.Buyers, "42").Result(); held != order {
					t.Errorf("%s: buyer 42 holds %q, want %q", when, held, order)
				}
				if n, _ := rdb.XLen(ctx, k.Outbox).Result(); n != 1 {
					t.Errorf("%s: %d events in the outbox, want 1", when, n)
				}
			}
			check("after the first request")
			if code, _ := kill(t, srv.URL, 42); code != http.StatusConflict {
				t.Errorf("second request of the same buyer: %d, want 409", code)
			}
			check("after the second request")
		})
	}
}

// TestConcurrentBuyersThroughTheAutoPipelineEachReserveOnce: 64 buyers at once, batched by the AutoPipeline,
// over a stock of 50: exactly 50 reservations with 50 distinct orders, 14 answers sold out, stock 0.
func TestConcurrentBuyersThroughTheAutoPipelineEachReserveOnce(t *testing.T) {
	srv, rdb, k := serve(t, 50, true)
	var mu sync.Mutex
	codes, orders := map[int]int{}, map[string]bool{}
	var wg sync.WaitGroup
	for u := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, order := kill(t, srv.URL, int64(1000+u))
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			if order != "" {
				orders[order] = true
			}
		}()
	}
	wg.Wait()
	if codes[http.StatusOK] != 50 || codes[http.StatusGone] != 14 || len(orders) != 50 {
		t.Errorf("answers %v with %d distinct orders, want 200×50 410×14 and 50 orders", codes, len(orders))
	}
	ctx := context.Background()
	if stock, _ := rdb.Get(ctx, k.Stock).Int64(); stock != 0 {
		t.Errorf("stock %d, want 0", stock)
	}
	if n, _ := rdb.HLen(ctx, k.Buyers).Result(); n != 50 {
		t.Errorf("%d buyers marked, want 50", n)
	}
}
