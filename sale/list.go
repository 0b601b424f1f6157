package sale

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// List lists a product: the ProductListed event and the product row in MySQL, then the stock in Redis. An empty
// e.EventID or zero e.ListedAt is filled in (new id, now). An id already listed (in MySQL or in Redis) is
// ErrAlreadyListed and changes nothing, so live stock is never reset: calling again is safe. Redis not
// answering is ErrUnavailable (nothing listed).
func (s *Service) List(ctx context.Context, e *events.ProductListed) error {
	if e.EventID == "" {
		e.EventID = s.deps.NewID()
	}
	if e.ListedAt.IsZero() {
		e.ListedAt = s.deps.Now().UTC().Truncate(time.Millisecond)
	}
	k := schema.KeysFor(e.ProductID)
	n, err := s.deps.Redis.Exists(ctx, k.Info).Result()
	if err != nil {
		return unavailable(fmt.Errorf("read product %d: %w", e.ProductID, err), "redis unavailable: nothing listed")
	}
	if n > 0 {
		return fail(ErrAlreadyListed, "product %d is already listed", e.ProductID)
	}
	// MySQL holds the listing while Redis does not after Redis lost its data, or after a listing interrupted
	// between the two (the next start loads it): refuse before recording, so tb_event gains no second listing.
	// Two first listings of one id at once can both pass; the projection rejects the later (recorded, no effect).
	var listed int
	if err := s.deps.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM tb_seckill_product WHERE id = ?`, e.ProductID).
		Scan(&listed); err != nil {
		return fmt.Errorf("read product %d: %w", e.ProductID, err)
	}
	if listed > 0 {
		return fail(ErrAlreadyListed, "product %d is already listed", e.ProductID)
	}
	outcome, err := s.deps.Store.Record(ctx, e)
	if err != nil {
		return fmt.Errorf("record listing of product %d: %w", e.ProductID, err)
	}
	if outcome == projections.Rejected {
		return fail(ErrAlreadyListed, "product %d is already listed", e.ProductID)
	}
	if _, err := schema.LoadSale(ctx, s.deps.Redis, schema.Sale{ProductID: e.ProductID, Name: e.Name, Price: e.Price,
		Start: e.StartTime, End: e.EndTime, Stock: e.Stock, Listed: e.Stock}); err != nil {
		return fmt.Errorf("product %d is in MySQL but not yet in Redis (the next start loads it): %w", e.ProductID, err)
	}
	s.soldOut.clear(e.ProductID)
	s.catalog.forget()
	return nil
}

// ListProduct lists a product as List does, and reports false when its id is already listed (nothing changes
// then). `seckill serve -seed` lists the demo product through it.
func (s *Service) ListProduct(ctx context.Context, e *events.ProductListed) (bool, error) {
	err := s.List(ctx, e)
	if errors.Is(err, ErrAlreadyListed) {
		return false, nil
	}
	return err == nil, err
}

// Audit is a product's sale as Redis and MySQL see it: the answer of GET /admin/products/{id}/audit
// (projections.Audit decides; this is its report in the contract's shape).
type Audit struct {
	InitialStock  int64 `json:"initialStock"`
	RedisStock    int64 `json:"redisStock"`
	Reserved      int64 `json:"reserved"` // Σ quantity of the orders Redis holds not cancelled
	MySQLStock    int64 `json:"mysqlStock"`
	Orders        int64 `json:"orders"`    // order rows in MySQL
	Cancelled     int64 `json:"cancelled"` // of which cancelled
	PendingEvents int64 `json:"pendingEvents"`
	Consistent    bool  `json:"consistent"`
	// OutboxEvents are the pending events still in the Redis outbox (the rest are in RocketMQ or its retry topic
	// or DLQ).
	OutboxEvents int64 `json:"outboxEvents"`
	// RejectedEvents are events of the product MySQL could not hold (projections.Rejected); counted once nothing
	// is pending, and never consistent.
	RejectedEvents int64 `json:"rejectedEvents"`
	// Failures name the broken invariants, one line each (empty when consistent).
	Failures []string `json:"failures"`
}

// Audit audits a product's sale (AuditProduct): ErrNotFound when Redis holds no sale of it. Only reads.
func (s *Service) Audit(ctx context.Context, productID int64) (*Audit, error) {
	a, err := AuditProduct(ctx, s.deps.Redis, s.deps.DB, productID)
	if errors.Is(err, schema.ErrNoSale) {
		return nil, fail(ErrNotFound, "product %d not found", productID)
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// AuditProduct reads a product's sale from Redis and audits it against MySQL with projections.Audit: pending
// counts every event Redis stamped that MySQL has not applied, and consistent is false whenever an invariant
// breaks — whatever is pending, a negative stock or a Redis stock that does not add up; once nothing is pending,
// any acknowledged order missing from MySQL, held in another state, or rejected. It returns an error wrapping
// schema.ErrNoSale when Redis has no sale of the product.
func AuditProduct(ctx context.Context, rdb redis.Cmdable, db *sql.DB, productID int64) (Audit, error) {
	state, err := schema.ReadSaleState(ctx, rdb, productID)
	if err != nil {
		return Audit{}, err
	}
	rep, err := projections.Audit(ctx, db, productID, state)
	if err != nil {
		return Audit{}, err
	}
	a := Audit{InitialStock: state.Listed, RedisStock: state.Stock, Reserved: rep.RedisReserved,
		MySQLStock: rep.MySQLStock, Orders: rep.Orders, Cancelled: rep.Cancelled, PendingEvents: rep.Pending,
		Consistent: rep.OK(), OutboxEvents: rep.Outbox, RejectedEvents: rep.Rejected, Failures: []string{}}
	for _, f := range rep.Failures {
		a.Failures = append(a.Failures, f.Invariant+": "+f.Detail)
	}
	return a, nil
}
