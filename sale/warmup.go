package sale

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// Restored is a product WarmUp loaded back into Redis.
type Restored struct {
	ProductID int64
	Stock     int64
	Orders    int
}

// WarmUp loads into Redis every product MySQL lists that Redis lacks (a listing interrupted between the two, or a
// Redis that lost its data), with MySQL's stock, and puts back its orders, buyer marks, order counter and event
// sequence (past every event sequence number MySQL has seen, with room for those in flight), all in one atomic
// step per product (schema.RestoreSale), so another instance never serves a product half-restored. It returns
// the products it restored. Products already in Redis are never touched, so instances may warm up at once and
// beside a live sale: idempotent and safe for concurrent use, also across processes. Events still on their way
// to MySQL when Redis lost its data are not known here: check such a product with Audit.
func (s *Service) WarmUp(ctx context.Context) ([]Restored, error) {
	rdb, db := s.deps.Redis, s.deps.DB
	sales, err := listedSales(ctx, db)
	if err != nil {
		return nil, err
	}
	var restored []Restored
	for _, sl := range sales {
		// A product Redis holds is live: it is only registered again (idempotent), never touched.
		k := schema.KeysFor(sl.ProductID)
		if n, err := rdb.Exists(ctx, k.Info).Result(); err != nil {
			return restored, fmt.Errorf("warm-up: product %d: %w", sl.ProductID, err)
		} else if n == 1 {
			if err := rdb.SAdd(ctx, schema.ProductsKey, sl.ProductID).Err(); err != nil {
				return restored, fmt.Errorf("warm-up: register product %d: %w", sl.ProductID, err)
			}
			continue
		}
		orders, err := productOrders(ctx, db, sl.ProductID)
		if err != nil {
			return restored, fmt.Errorf("warm-up: %w", err)
		}
		seen, applied, err := projections.EventSeqs(ctx, db, sl.ProductID)
		if err != nil {
			return restored, fmt.Errorf("warm-up: %w", err)
		}
		ok, err := schema.RestoreSale(ctx, rdb, sl, orders, seen, applied)
		if err != nil {
			return restored, fmt.Errorf("warm-up: %w", err)
		}
		if ok { // false: another instance restored it meanwhile
			restored = append(restored, Restored{ProductID: sl.ProductID, Stock: sl.Stock, Orders: len(orders)})
		}
	}
	return restored, nil
}

// listedSales reads every product MySQL lists, with the listed stock of its first ProductListed.
func listedSales(ctx context.Context, db *sql.DB) ([]schema.Sale, error) {
	rows, err := db.QueryContext(ctx, `SELECT p.id, p.product_name, p.price, p.stock, p.start_time, p.end_time,
		COALESCE((SELECT JSON_VALUE(e.payload, '$.stock') FROM tb_event e WHERE e.event_type = ? AND e.aggregate_id = CAST(p.id AS CHAR) ORDER BY e.seq LIMIT 1), p.stock)
		FROM tb_seckill_product p`, events.TypeProductListed)
	if err != nil {
		return nil, fmt.Errorf("warm-up: list products: %w", err)
	}
	defer rows.Close()
	var sales []schema.Sale
	for rows.Next() {
		var sl schema.Sale
		var start, end sql.NullTime
		if err := rows.Scan(&sl.ProductID, &sl.Name, &sl.Price, &sl.Stock, &start, &end, &sl.Listed); err != nil {
			return nil, fmt.Errorf("warm-up: read product: %w", err)
		}
		if start.Valid {
			sl.Start = &start.Time
		}
		if end.Valid {
			sl.End = &end.Time
		}
		sales = append(sales, sl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("warm-up: list products: %w", err)
	}
	return sales, nil
}

func productOrders(ctx context.Context, db *sql.DB, productID int64) ([]schema.OrderState, error) {
	rows, err := db.QueryContext(ctx, `SELECT order_no, user_id, quantity, status FROM tb_seckill_order WHERE product_id = ?`, productID)
	if err != nil {
		return nil, fmt.Errorf("read orders of product %d: %w", productID, err)
	}
	defer rows.Close()
	var out []schema.OrderState
	for rows.Next() {
		var o schema.OrderState
		if err := rows.Scan(&o.OrderNo, &o.UserID, &o.Quantity, &o.State); err != nil {
			return nil, fmt.Errorf("read orders of product %d: %w", productID, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
