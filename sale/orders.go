package sale

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

// Status is a buyer's standing in a product's sale: the answer of GET /seckill/result. Status is NONE, PENDING
// (reserved, not yet in MySQL), CREATED, PAID or CANCELLED.
type Status struct {
	Status  string  `json:"status"`
	OrderNo *string `json:"orderNo"`
}

// Result tells the buyer's standing in a product's sale: Redis settles first and MySQL follows once the event is
// projected, so the state Redis decided wins. A Redis failure is ErrUnavailable. Only reads.
func (s *Service) Result(ctx context.Context, buyer, productID int64) (*Status, error) {
	k := schema.KeysFor(productID)
	orderNo, err := s.deps.Redis.HGet(ctx, k.Buyers, strconv.FormatInt(buyer, 10)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(fmt.Errorf("read the order of user %d product %d: %w", buyer, productID, err), "redis unavailable")
	}
	var status int
	if orderNo != "" {
		err = s.deps.DB.QueryRowContext(ctx, `SELECT status FROM tb_seckill_order WHERE order_no = ?`, orderNo).Scan(&status)
	} else {
		err = s.deps.DB.QueryRowContext(ctx, `SELECT order_no, status FROM tb_seckill_order
			WHERE user_id = ? AND product_id = ? ORDER BY create_time DESC, id DESC LIMIT 1`, buyer, productID).Scan(&orderNo, &status)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows) && orderNo != "":
		// Not in MySQL yet. A payment Redis already decided is reported (the buyer whose pay got no answer
		// learns it here); otherwise the order is PENDING.
		if s.redisState(ctx, productID, orderNo, schema.StateAwaitingPayment) == schema.StatePaid {
			return &Status{Status: "PAID", OrderNo: &orderNo}, nil
		}
		return &Status{Status: "PENDING", OrderNo: &orderNo}, nil
	case errors.Is(err, sql.ErrNoRows):
		return &Status{Status: "NONE"}, nil
	case err != nil:
		return nil, fmt.Errorf("read order of user %d product %d: %w", buyer, productID, err)
	}
	return &Status{Status: statusName(s.redisState(ctx, productID, orderNo, status)), OrderNo: &orderNo}, nil
}

// redisState returns an order's state as Redis decided it, or def when Redis does not know it (or cannot say).
func (s *Service) redisState(ctx context.Context, productID int64, orderNo string, def int) int {
	o, known, err := schema.ReadOrder(ctx, s.deps.Redis, productID, orderNo)
	if err != nil || !known {
		return def
	}
	return o.State
}

// Order is an order as MySQL holds it: the answer of GET /seckill/orders/{orderNo}.
type Order struct {
	OrderNo     string       `json:"orderNo"`
	UserID      int64        `json:"userId"`
	ProductID   int64        `json:"productId"`
	ProductName string       `json:"productName"`
	Price       events.Money `json:"price"`
	Quantity    int64        `json:"quantity"`
	Status      int          `json:"status"`
	CreateTime  time.Time    `json:"createTime"`
}

// Order reads an order of the buyer from MySQL: ErrNotFound while it is not (yet) projected, and for an order of
// another buyer, which answers exactly like one that does not exist. Only reads.
func (s *Service) Order(ctx context.Context, buyer int64, orderNo string) (*Order, error) {
	var o Order
	err := s.deps.DB.QueryRowContext(ctx, `SELECT order_no, user_id, product_id, product_name, price, quantity,
		status, create_time FROM tb_seckill_order WHERE order_no = ? AND user_id = ?`, orderNo, buyer).
		Scan(&o.OrderNo, &o.UserID, &o.ProductID, &o.ProductName, &o.Price, &o.Quantity, &o.Status, &o.CreateTime)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fail(ErrNotFound, "order %s not found (yet)", orderNo)
	}
	if err != nil {
		return nil, fmt.Errorf("read order %s: %w", orderNo, err)
	}
	return &o, nil
}
