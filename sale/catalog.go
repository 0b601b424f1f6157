package sale

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

// catalogTTL is how long the list of sale ids read from MySQL is reused: the buyer's page polls GET
// /seckill/products every second, and a flash sale has many buyers, so MySQL answers at most once a second per
// instance. Stock is read from Redis on every request.
const catalogTTL = time.Second

// catalog caches the ids of the products whose sale has not ended. Safe for concurrent use; the zero value is
// ready.
type catalog struct {
	mu  sync.Mutex
	ids []int64
	at  time.Time
}

// liveIDs returns the ids of the products MySQL lists with no end time or an end time after now, at most
// catalogTTL old.
func (c *catalog) liveIDs(ctx context.Context, db *sql.DB, now time.Time) ([]int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && now.Sub(c.at) < catalogTTL && now.After(c.at) {
		return c.ids, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT id FROM tb_seckill_product WHERE end_time IS NULL OR end_time > ?`, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list products: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	c.ids, c.at = ids, now
	return ids, nil
}

// forget drops the cached ids, so a product listed through this instance is on its next list.
func (c *catalog) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids, c.at = nil, time.Time{}
}

// Products returns the sales that are live or upcoming, each as Product shows it (stock live from Redis), ordered
// by start time then id. The ids come from MySQL at most once per catalogTTL. Only reads.
func (s *Service) Products(ctx context.Context) ([]Product, error) {
	now := s.deps.Now()
	ids, err := s.catalog.liveIDs(ctx, s.deps.DB, now)
	if err != nil {
		return nil, err
	}
	views, err := readProducts(ctx, s.deps.Redis, ids)
	if err != nil {
		return nil, err
	}
	out := make([]Product, 0, len(views))
	for _, p := range views {
		if p.EndTime == nil || p.EndTime.After(now) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].StartTime, out[j].StartTime
		switch {
		case a == nil && b == nil, a != nil && b != nil && a.Equal(*b):
			return out[i].ID < out[j].ID
		case a == nil || b == nil:
			return a == nil
		}
		return a.Before(*b)
	})
	return out, nil
}

// Product is a product's sale with its live stock: the answer of GET /seckill/products/{id}.
type Product struct {
	ID        int64        `json:"id"`
	Name      string       `json:"name"`
	Price     events.Money `json:"price"`
	Stock     int64        `json:"stock"`
	StartTime *time.Time   `json:"startTime"`
	EndTime   *time.Time   `json:"endTime"`
}

// Product reads a product's sale and live stock from Redis: ErrNotFound when Redis does not hold it,
// ErrUnavailable when Redis does not answer. Only reads.
func (s *Service) Product(ctx context.Context, id int64) (*Product, error) {
	ps, err := readProducts(ctx, s.deps.Redis, []int64{id})
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, fail(ErrNotFound, "product %d not found", id)
	}
	return &ps[0], nil
}

// readProducts reads the sales of ids from Redis in one round trip; ids Redis does not hold are left out.
func readProducts(ctx context.Context, rdb redis.UniversalClient, ids []int64) ([]Product, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := rdb.Pipeline()
	infos := make([]*redis.SliceCmd, len(ids))
	stocks := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		k := schema.KeysFor(id)
		infos[i] = pipe.HMGet(ctx, k.Info, "name", "price", "start", "end")
		stocks[i] = pipe.Get(ctx, k.Stock)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(fmt.Errorf("read products: %w", err), "redis unavailable")
	}
	out := make([]Product, 0, len(ids))
	for i, id := range ids {
		v := infos[i].Val()
		name, ok := v[0].(string)
		if !ok {
			continue
		}
		p := Product{ID: id, Name: name, StartTime: msTime(v[2]), EndTime: msTime(v[3])}
		cents, _ := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
		p.Price = events.Money(cents)
		p.Stock, _ = stocks[i].Int64()
		out = append(out, p)
	}
	return out, nil
}

// boardMaxProducts bounds GET /admin/products to the most recently listed products.
const boardMaxProducts = 100

// Board is the answer of GET /admin/products: what an operator watches during a sale.
type Board struct {
	// DLQ counts the events parked in the dead-letter queue and not redriven, of every product.
	DLQ   int64       `json:"dlq"`
	Sales []BoardSale `json:"sales"`
}

// BoardSale is one product on the board: its listing, its orders by state in MySQL, its outbox depth, its
// parked events and its audit (GET /admin/products/{id}/audit).
type BoardSale struct {
	ID        int64        `json:"id"`
	Name      string       `json:"name"`
	Price     events.Money `json:"price"`
	StartTime *time.Time   `json:"startTime"`
	EndTime   *time.Time   `json:"endTime"`
	Orders    OrderCounts  `json:"orders"`
	Outbox    int64        `json:"outbox"`
	DLQ       int64        `json:"dlq"`
	// Audit is null when Redis does not hold the product (a listing interrupted before Redis; the next start
	// loads it).
	Audit *Audit `json:"audit"`
}

// OrderCounts counts a product's orders in MySQL by status.
type OrderCounts struct {
	AwaitingPayment int64 `json:"awaitingPayment"`
	Paid            int64 `json:"paid"`
	Cancelled       int64 `json:"cancelled"`
}

// Board reads the most recently listed products (at most boardMaxProducts) with their figures: what an operator
// watches during a sale (GET /admin/products). Only reads.
func (s *Service) Board(ctx context.Context) (*Board, error) {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT id, product_name, price, start_time, end_time
		FROM tb_seckill_product ORDER BY create_time DESC, id DESC LIMIT ?`, boardMaxProducts)
	if err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	b := &Board{Sales: []BoardSale{}}
	byID := map[int64]*BoardSale{}
	for rows.Next() {
		var p BoardSale
		var start, end sql.NullTime
		if err := rows.Scan(&p.ID, &p.Name, &p.Price, &start, &end); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("list products: %w", err)
		}
		if start.Valid {
			p.StartTime = &start.Time
		}
		if end.Valid {
			p.EndTime = &end.Time
		}
		b.Sales = append(b.Sales, p)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("list products: %w", err)
	}
	for i := range b.Sales {
		byID[b.Sales[i].ID] = &b.Sales[i]
	}
	if err := s.countOrders(ctx, byID); err != nil {
		return nil, err
	}
	if err := s.countParked(ctx, b, byID); err != nil {
		return nil, err
	}
	for i := range b.Sales {
		p := &b.Sales[i]
		a, err := AuditProduct(ctx, s.deps.Redis, s.deps.DB, p.ID)
		switch {
		case errors.Is(err, schema.ErrNoSale):
			continue
		case err != nil:
			return nil, unavailable(err, "audit of product %d: %v", p.ID, err)
		}
		p.Audit = &a
		if p.Outbox, _, err = schema.OutboxStats(ctx, s.deps.Redis, p.ID); err != nil {
			return nil, unavailable(err, "outbox of product %d: %v", p.ID, err)
		}
	}
	return b, nil
}

func (s *Service) countOrders(ctx context.Context, byID map[int64]*BoardSale) error {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT product_id, status, COUNT(*) FROM tb_seckill_order GROUP BY product_id, status`)
	if err != nil {
		return fmt.Errorf("count orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		var status int
		if err := rows.Scan(&id, &status, &n); err != nil {
			return fmt.Errorf("count orders: %w", err)
		}
		p, ok := byID[id]
		if !ok {
			continue
		}
		switch status {
		case schema.StateAwaitingPayment:
			p.Orders.AwaitingPayment = n
		case schema.StatePaid:
			p.Orders.Paid = n
		case schema.StateCancelled:
			p.Orders.Cancelled = n
		}
	}
	return rows.Err()
}

// countParked counts the parked events of the DLQ, in all and by the productId of their payload.
func (s *Service) countParked(ctx context.Context, b *Board, byID map[int64]*BoardSale) error {
	rows, err := s.deps.DB.QueryContext(ctx, `SELECT payload FROM tb_dlq WHERE redriven_at IS NULL`)
	if err != nil {
		return fmt.Errorf("count parked events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var payload []byte
		if err := rows.Scan(&payload); err != nil {
			return fmt.Errorf("count parked events: %w", err)
		}
		b.DLQ++
		var e struct {
			ProductID int64 `json:"productId"`
		}
		if json.Unmarshal(payload, &e) == nil {
			if p, ok := byID[e.ProductID]; ok {
				p.DLQ++
			}
		}
	}
	return rows.Err()
}

func msTime(v any) *time.Time {
	s, _ := v.(string)
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}
