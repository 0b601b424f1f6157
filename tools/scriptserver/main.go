// Command scriptserver is the Redis ceiling `make bench` compares the reservation phase of `seckill serve` with:
// a bare net/http handler that decodes POST /seckill/kill's body and runs reserve.lua itself (schema.Reserve, the
// script embedded in the schema package) with ONE go-redis EVALSHA per request, for the body's userId, on a
// product of its own listed at start with -stock units; nothing else (no outbox relay, no publish, no consumers,
// no tokens). With -autopipeline the same calls go through go-redis's AutoPipeline(), which batches the concurrent
// requests' EVALSHAs into pipelines.
//
// Its product is loaded like any sale but left out of the set of products the outbox relays walk, so no
// `seckill serve` sharing the Redis publishes its reservations; the product's keys are unlinked when the server
// stops (SIGINT or SIGTERM).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18082", "listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	product := flag.Int64("product", 0, "product id to list (default: a fresh random id)")
	stock := flag.Int64("stock", 100_000_000, "units of the product")
	auto := flag.Bool("autopipeline", false, "send the scripts through go-redis's AutoPipeline()")
	flag.Parse()
	if err := run(*addr, *redisAddr, *product, *stock, *auto); err != nil {
		fmt.Fprintln(os.Stderr, "scriptserver:", err)
		os.Exit(1)
	}
}

func run(addr, redisAddr string, product, stock int64, auto bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The same client settings as `seckill serve` (cmd/seckill openRedis).
	rdb := schema.NewClient(redis.UniversalOptions{Addrs: []string{redisAddr}, PoolSize: 256,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	defer rdb.Close()
	if product == 0 {
		product = 2_000_000_000 + rand.Int64N(1_000_000_000)
	}
	if err := listProduct(ctx, rdb, product, stock); err != nil {
		return err
	}
	defer unlist(rdb, product)
	var scripter redis.Scripter = rdb
	if auto {
		ap, err := schema.ScriptPipeline(rdb)
		if err != nil {
			return err
		}
		defer ap.Close()
		scripter = ap
	}
	srv := &http.Server{Addr: addr, Handler: reserveHandler(scripter, product), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listProduct loads the product into Redis with stock units, open now and with no end, and takes it out of the
// set the outbox relays walk. The scripts are loaded too, so the first request is an EVALSHA that hits.
func listProduct(ctx context.Context, rdb redis.UniversalClient, product, stock int64) error {
	if _, err := schema.LoadSale(ctx, rdb, schema.Sale{ProductID: product, Name: "scriptserver", Price: 699900,
		Stock: stock, Listed: stock}); err != nil {
		return fmt.Errorf("list product %d: %w", product, err)
	}
	if err := rdb.SRem(ctx, schema.ProductsKey, product).Err(); err != nil {
		return fmt.Errorf("list product %d: %w", product, err)
	}
	return schema.LoadScripts(ctx, rdb)
}

// unlist removes the product's keys (UNLINK: its buyers, orders and outbox can be large).
func unlist(rdb redis.UniversalClient, product int64) {
	k := schema.KeysFor(product)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = rdb.Unlink(ctx, k.Stock, k.Info, k.Buyers, k.Orders, k.Seq, k.Outbox, k.EvSeq).Err()
}

type killRequest struct {
	UserID    int64 `json:"userId"`
	ProductID int64 `json:"productId"`
	Quantity  int64 `json:"quantity"`
}

type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

type reservation struct {
	OrderNo        string `json:"orderNo"`
	UserID         int64  `json:"userId"`
	ProductID      int64  `json:"productId"`
	Quantity       int64  `json:"quantity"`
	RemainingStock int64  `json:"remainingStock"`
}

// reserveHandler answers every POST like POST /seckill/kill for one unit of product: 200 with the order when
// reserve.lua reserved, 409 when the buyer already holds one, 410 when sold out, 400 for a body without a
// positive userId, 503 when Redis failed. It is safe for concurrent use; each request is one script call.
func reserveHandler(rdb redis.Scripter, product int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req killRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.UserID <= 0 {
			write(w, http.StatusBadRequest, "userId: must be a positive integer", nil)
			return
		}
		res, err := schema.Reserve(r.Context(), rdb, product, req.UserID, 1, uuid.NewString(), time.Now())
		if err != nil {
			write(w, http.StatusServiceUnavailable, err.Error(), nil)
			return
		}
		switch res.Outcome {
		case schema.Reserved:
			write(w, http.StatusOK, "ok", reservation{OrderNo: res.OrderNo, UserID: req.UserID, ProductID: product,
				Quantity: 1, RemainingStock: res.Stock})
		case schema.AlreadyBought:
			write(w, http.StatusConflict, "already bought: "+res.OrderNo, nil)
		case schema.SoldOut:
			write(w, http.StatusGone, "sold out", nil)
		default:
			write(w, http.StatusNotFound, res.Outcome.String(), nil)
		}
	})
}

func write(w http.ResponseWriter, status int, message string, data any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(envelope{Code: status, Message: message, Data: data})
}
