package httpapi

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// admin guards h with the bearer token; without a configured token every admin call is 401.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.cfg.AdminToken == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
			writeJSON(w, http.StatusUnauthorized, "admin endpoints need Authorization: Bearer <admin token>", nil)
			return
		}
		h(w, r)
	}
}

// Limits of a listing.
const (
	maxProductID = 999_999_999_999
	maxStock     = 100_000_000
	maxName      = 128
)

// listProduct answers POST /admin/products: the ProductListed event and the product row in MySQL, then the stock
// in Redis. An id already listed (in MySQL or in Redis) is 409 and changes nothing, so live stock is never reset.
func (s *Server) listProduct(w http.ResponseWriter, r *http.Request) {
	e, err := s.decodeListing(r)
	if err == nil {
		err = s.list(r.Context(), e)
	}
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	writeJSON(w, http.StatusCreated, "listed", productView{ID: e.ProductID, Name: e.Name, Price: e.Price,
		Stock: e.Stock, StartTime: e.StartTime, EndTime: e.EndTime})
}

func (s *Server) decodeListing(r *http.Request) (*events.ProductListed, error) {
	fields, err := decodeObject(r, "id", "name", "price", "stock", "startTime", "endTime")
	if err != nil {
		return nil, err
	}
	e := &events.ProductListed{EventID: s.deps.NewID(), ListedAt: s.deps.Now().UTC().Truncate(time.Millisecond)}
	if e.ProductID, err = positiveInt(fields, "id"); err != nil {
		return nil, err
	}
	if e.ProductID > maxProductID {
		return nil, badRequest("id: at most %d", maxProductID)
	}
	if err := json.Unmarshal(fields["name"], &e.Name); err != nil || strings.TrimSpace(e.Name) == "" || len(e.Name) > maxName {
		return nil, badRequest("name: must be a non-empty string of at most %d bytes", maxName)
	}
	raw, ok := fields["price"]
	if !ok {
		return nil, badRequest("price: missing")
	}
	if err := e.Price.UnmarshalJSON(raw); err != nil || e.Price <= 0 || raw[0] == '"' {
		return nil, badRequest("price: must be a positive number with at most two decimals")
	}
	raw, ok = fields["stock"]
	if !ok {
		return nil, badRequest("stock: missing")
	}
	if e.Stock, err = strconv.ParseInt(string(raw), 10, 64); err != nil || e.Stock < 0 || e.Stock > maxStock {
		return nil, badRequest("stock: must be an integer from 0 to %d", maxStock)
	}
	for name, dst := range map[string]**time.Time{"startTime": &e.StartTime, "endTime": &e.EndTime} {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			continue
		}
		var v string
		t, err := time.Time{}, json.Unmarshal(raw, &v)
		if err == nil {
			t, err = time.Parse(time.RFC3339, v)
		}
		if err != nil {
			return nil, badRequest("%s: must be an RFC 3339 time such as 2026-11-23T20:00:00+08:00", name)
		}
		t = t.UTC().Truncate(time.Millisecond)
		*dst = &t
	}
	if e.StartTime != nil && e.EndTime != nil && !e.EndTime.After(*e.StartTime) {
		return nil, badRequest("endTime: must be after startTime")
	}
	return e, nil
}

// ListProduct lists a product as POST /admin/products does, and reports false when its id is already listed
// (nothing changes then). `seckill serve -seed` lists the demo product through it.
func (s *Server) ListProduct(ctx context.Context, e *events.ProductListed) (bool, error) {
	err := s.list(ctx, e)
	if ae, ok := asAPIError(err); ok && ae.status == http.StatusConflict {
		return false, nil
	}
	return err == nil, err
}

func (s *Server) list(ctx context.Context, e *events.ProductListed) error {
	k := schema.KeysFor(e.ProductID)
	n, err := s.deps.Redis.Exists(ctx, k.Info).Result()
	if err != nil {
		return fail(http.StatusServiceUnavailable, "redis unavailable: nothing listed")
	}
	if n > 0 {
		return fail(http.StatusConflict, "product %d is already listed", e.ProductID)
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
		return fail(http.StatusConflict, "product %d is already listed", e.ProductID)
	}
	outcome, err := s.deps.Store.Record(ctx, e)
	if err != nil {
		return fmt.Errorf("record listing of product %d: %w", e.ProductID, err)
	}
	if outcome == projections.Rejected {
		return fail(http.StatusConflict, "product %d is already listed", e.ProductID)
	}
	if _, err := schema.LoadSale(ctx, s.deps.Redis, schema.Sale{ProductID: e.ProductID, Name: e.Name, Price: e.Price,
		Start: e.StartTime, End: e.EndTime, Stock: e.Stock, Listed: e.Stock}); err != nil {
		return fmt.Errorf("product %d is in MySQL but not yet in Redis (the next start loads it): %w", e.ProductID, err)
	}
	s.soldOut.clear(e.ProductID)
	s.catalog.forget()
	return nil
}

// Audit is the answer of GET /admin/products/{id}/audit: the product's sale as Redis and MySQL see it
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

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	id, err := parsePositive("id", mux.Vars(r)["id"])
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	a, err := AuditProduct(r.Context(), s.deps.Redis, s.deps.DB, id)
	if errors.Is(err, schema.ErrNoSale) {
		err = fail(http.StatusNotFound, "product %d not found", id)
	}
	s.respond(w, r, a, err)
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
