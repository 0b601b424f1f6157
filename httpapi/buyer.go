package httpapi

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

func newUUID() string { return uuid.NewString() }

type killResult struct {
	OrderNo        string `json:"orderNo"`
	UserID         int64  `json:"userId"`
	ProductID      int64  `json:"productId"`
	Quantity       int64  `json:"quantity"`
	RemainingStock int64  `json:"remainingStock"`
}

// kill reserves stock for a buyer: POST /seckill/kill {"userId","productId","quantity"}.
func (s *Server) kill(w http.ResponseWriter, r *http.Request) {
	data, err := s.reserve(r)
	s.respond(w, r, data, err)
}

func (s *Server) reserve(r *http.Request) (*killResult, error) {
	fields, err := decodeObject(r, "userId", "productId", "quantity")
	if err != nil {
		return nil, err
	}
	userID, err := bodyBuyer(r, fields)
	if err != nil {
		return nil, err
	}
	productID, err := positiveInt(fields, "productId")
	if err != nil {
		return nil, err
	}
	qty, err := positiveInt(fields, "quantity")
	if err != nil || qty > s.cfg.MaxPerUser {
		return nil, badRequest("quantity: must be an integer from 1 to %d", s.cfg.MaxPerUser)
	}
	now := s.deps.Now()
	if s.limiter != nil && !s.limiter.allow(userID, now) {
		s.metrics.reserved(outcomeRateLimited)
		return nil, fail(http.StatusTooManyRequests, "user %d: too many requests, slow down", userID)
	}
	if s.soldOut.known(productID, now) {
		s.metrics.reserved(outcomeSoldOutCached)
		return nil, fail(http.StatusGone, "product %d is sold out", productID)
	}
	eventID := s.deps.NewID()
	res, err := schema.Reserve(r.Context(), s.deps.Scripts, productID, userID, qty, eventID, now)
	if err != nil {
		f := &scriptFailure{op: "reservation", nothing: "nothing was reserved", err: schema.ScriptCallError(err)}
		if f.unknown() {
			s.metrics.reserved(outcomeRedisUnknown)
			s.deps.Logger.Warn("reservation outcome unknown", "product_id", productID, "user_id", userID, "event_id", eventID, "err", err)
		} else {
			s.metrics.reserved(outcomeRedisDown)
			s.deps.Logger.Warn("reservation failed, nothing reserved", "product_id", productID, "user_id", userID, "err", err)
		}
		return nil, f
	}
	s.metrics.reserved(res.Outcome.String())
	switch res.Outcome {
	case schema.Reserved:
	case schema.UnknownProduct:
		return nil, fail(http.StatusNotFound, "product %d not found", productID)
	case schema.NotStarted:
		return nil, fail(http.StatusForbidden, "product %d: the sale has not started", productID)
	case schema.Ended:
		return nil, fail(http.StatusForbidden, "product %d: the sale has ended", productID)
	case schema.AlreadyBought:
		return nil, fail(http.StatusConflict, "user %d already holds order %s for product %d", userID, res.OrderNo, productID)
	case schema.SoldOut:
		if res.Stock == 0 {
			s.soldOut.mark(productID, now)
		}
		return nil, fail(http.StatusGone, "product %d is sold out (stock %d, wanted %d)", productID, res.Stock, qty)
	default:
		return nil, fmt.Errorf("reserve product %d: unexpected outcome %v", productID, res.Outcome)
	}
	name, price, err := s.saleInfo(r.Context(), productID)
	if err == nil {
		s.deps.Outbox.Deliver(r.Context(), productID, res.OutboxID,
			schema.ReservedEvent(productID, userID, qty, eventID, now, res, name, price))
	}
	// Without the product's name and price the event is left to the outbox relay, which reads it whole.
	return &killResult{OrderNo: res.OrderNo, UserID: userID, ProductID: productID, Quantity: qty, RemainingStock: res.Stock}, nil
}

// saleInfo returns a product's name and price from Redis. Both are immutable once listed, so they are cached.
func (s *Server) saleInfo(ctx context.Context, productID int64) (string, events.Money, error) {
	if v, ok := s.infoCache.Load(productID); ok {
		i := v.(saleInfo)
		return i.name, i.price, nil
	}
	vals, err := s.deps.Redis.HMGet(ctx, schema.KeysFor(productID).Info, "name", "price").Result()
	if err != nil {
		return "", 0, fmt.Errorf("read product %d: %w", productID, err)
	}
	name, _ := vals[0].(string)
	cents, _ := vals[1].(string)
	p, err := strconv.ParseInt(cents, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("product %d has no price in redis", productID)
	}
	s.infoCache.Store(productID, saleInfo{name: name, price: events.Money(p)})
	return name, events.Money(p), nil
}

type saleInfo struct {
	name  string
	price events.Money
}

type resultView struct {
	Status  string  `json:"status"`
	OrderNo *string `json:"orderNo"`
}

// result answers GET /seckill/result?productId= for the request's buyer: NONE, PENDING (reserved, not yet in
// MySQL), CREATED, PAID or CANCELLED.
func (s *Server) result(w http.ResponseWriter, r *http.Request) {
	data, err := s.lookupResult(r)
	s.respond(w, r, data, err)
}

func (s *Server) lookupResult(r *http.Request) (*resultView, error) {
	userID, err := buyerOf(r)
	if err != nil {
		return nil, err
	}
	productID, err := queryPositive(r, "productId")
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	k := schema.KeysFor(productID)
	orderNo, err := s.deps.Redis.HGet(ctx, k.Buyers, strconv.FormatInt(userID, 10)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fail(http.StatusServiceUnavailable, "redis unavailable")
	}
	var status int
	if orderNo != "" {
		err = s.deps.DB.QueryRowContext(ctx, `SELECT status FROM tb_seckill_order WHERE order_no = ?`, orderNo).Scan(&status)
	} else {
		err = s.deps.DB.QueryRowContext(ctx, `SELECT order_no, status FROM tb_seckill_order
			WHERE user_id = ? AND product_id = ? ORDER BY create_time DESC, id DESC LIMIT 1`, userID, productID).Scan(&orderNo, &status)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows) && orderNo != "":
		// Not in MySQL yet. A payment Redis already decided is reported (the buyer whose pay got no answer
		// learns it here); otherwise the order is PENDING.
		if s.redisState(ctx, k, orderNo, schema.StateAwaitingPayment) == schema.StatePaid {
			return &resultView{Status: "PAID", OrderNo: &orderNo}, nil
		}
		return &resultView{Status: "PENDING", OrderNo: &orderNo}, nil
	case errors.Is(err, sql.ErrNoRows):
		return &resultView{Status: "NONE"}, nil
	case err != nil:
		return nil, fmt.Errorf("read order of user %d product %d: %w", userID, productID, err)
	}
	// Redis settles first; MySQL follows once the event is projected. Report the settled state at once.
	return &resultView{Status: statusName(s.redisState(ctx, k, orderNo, status)), OrderNo: &orderNo}, nil
}

// redisState returns an order's state as Redis decided it, or def when Redis does not know it.
func (s *Server) redisState(ctx context.Context, k schema.Keys, orderNo string, def int) int {
	rec, err := s.deps.Redis.HGet(ctx, k.Orders, orderNo).Result()
	if err != nil {
		return def
	}
	st, _, ok := strings.Cut(rec, "|")
	if !ok {
		return def
	}
	n, err := strconv.Atoi(st)
	if err != nil {
		return def
	}
	return n
}

func statusName(status int) string {
	switch status {
	case schema.StatePaid:
		return "PAID"
	case schema.StateCancelled:
		return "CANCELLED"
	}
	return "CREATED"
}

type orderView struct {
	OrderNo     string       `json:"orderNo"`
	UserID      int64        `json:"userId"`
	ProductID   int64        `json:"productId"`
	ProductName string       `json:"productName"`
	Price       events.Money `json:"price"`
	Quantity    int64        `json:"quantity"`
	Status      int          `json:"status"`
	CreateTime  time.Time    `json:"createTime"`
}

// order answers GET /seckill/orders/{orderNo} from MySQL: 404 while the order is not (yet) projected, and for an
// order of another buyer, which answers exactly like one that does not exist.
func (s *Server) order(w http.ResponseWriter, r *http.Request) {
	orderNo := mux.Vars(r)["orderNo"]
	buyer, err := buyerOf(r)
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	var o orderView
	err = s.deps.DB.QueryRowContext(r.Context(), `SELECT order_no, user_id, product_id, product_name, price, quantity,
		status, create_time FROM tb_seckill_order WHERE order_no = ? AND user_id = ?`, orderNo, buyer).
		Scan(&o.OrderNo, &o.UserID, &o.ProductID, &o.ProductName, &o.Price, &o.Quantity, &o.Status, &o.CreateTime)
	if errors.Is(err, sql.ErrNoRows) {
		s.respond(w, r, nil, fail(http.StatusNotFound, "order %s not found (yet)", orderNo))
		return
	}
	if err != nil {
		s.respond(w, r, nil, fmt.Errorf("read order %s: %w", orderNo, err))
		return
	}
	s.respond(w, r, o, nil)
}

type settleView struct {
	OrderNo string `json:"orderNo"`
	Status  int    `json:"status"`
}

// pay answers POST /seckill/orders/{orderNo}/pay.
func (s *Server) pay(w http.ResponseWriter, r *http.Request) {
	data, err := s.settle(r, schema.StatePaid, "")
	s.respond(w, r, data, err)
}

// cancel answers POST /seckill/orders/{orderNo}/cancel: the buyer gives the order up and its stock returns.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	data, err := s.settle(r, schema.StateCancelled, events.ReasonUser)
	s.respond(w, r, data, err)
}

// settle pays or cancels an order of the request's buyer. The order's buyer is read from Redis before the settle
// script runs; it never changes once reserved, so the check cannot go stale. An order of another buyer answers
// exactly like one that does not exist.
func (s *Server) settle(r *http.Request, target int, reason string) (*settleView, error) {
	orderNo := mux.Vars(r)["orderNo"]
	buyer, err := buyerOf(r)
	if err != nil {
		return nil, err
	}
	productID, ok := productOfOrder(orderNo)
	if !ok {
		return nil, fail(http.StatusNotFound, "order %s not found", orderNo)
	}
	owner, err := schema.OrderBuyer(r.Context(), s.deps.Redis, productID, orderNo)
	if err != nil {
		s.deps.Logger.Warn("settle failed, nothing changed", "order_no", orderNo, "err", err)
		return nil, fail(http.StatusServiceUnavailable, "redis unavailable: nothing changed, try again")
	}
	if owner != buyer {
		return nil, fail(http.StatusNotFound, "order %s not found", orderNo)
	}
	now := s.deps.Now()
	eventID := s.deps.NewID()
	res, err := schema.Settle(r.Context(), s.deps.Scripts, productID, orderNo, target, reason, eventID, now)
	if err != nil {
		f := &scriptFailure{op: "payment", nothing: "nothing changed", err: schema.ScriptCallError(err)}
		if target == schema.StateCancelled {
			f.op = "cancellation"
		}
		s.deps.Logger.Warn("settle failed", "order_no", orderNo, "event_id", eventID, "outcome_unknown", f.unknown(), "err", err)
		return nil, f
	}
	switch res.Outcome {
	case schema.Settled:
	case schema.UnknownOrder:
		return nil, fail(http.StatusNotFound, "order %s not found", orderNo)
	case schema.NotAwaitingPayment:
		verb := map[int]string{schema.StatePaid: "payable", schema.StateCancelled: "cancellable"}[target]
		return nil, fail(http.StatusConflict, "order %s is not %s: it is already %s", orderNo, verb,
			strings.ToLower(statusName(res.State)))
	default:
		return nil, fmt.Errorf("settle order %s: unexpected outcome %v", orderNo, res.Outcome)
	}
	if target == schema.StateCancelled {
		s.soldOut.clear(productID)
	}
	s.deps.Outbox.Deliver(r.Context(), productID, res.OutboxID,
		schema.SettledEvent(productID, orderNo, target, reason, eventID, now, res))
	return &settleView{OrderNo: orderNo, Status: target}, nil
}

// productOfOrder reads the product id out of an order number "SK<productId>-<seq>".
func productOfOrder(orderNo string) (int64, bool) {
	rest, ok := strings.CutPrefix(orderNo, "SK")
	if !ok {
		return 0, false
	}
	pid, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(pid, 10, 64)
	return id, err == nil && id > 0
}

type productView struct {
	ID        int64        `json:"id"`
	Name      string       `json:"name"`
	Price     events.Money `json:"price"`
	Stock     int64        `json:"stock"`
	StartTime *time.Time   `json:"startTime"`
	EndTime   *time.Time   `json:"endTime"`
}

// product answers GET /seckill/products/{id} with the live stock from Redis.
func (s *Server) product(w http.ResponseWriter, r *http.Request) {
	id, err := parsePositive("id", mux.Vars(r)["id"])
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	k := schema.KeysFor(id)
	pipe := s.deps.Redis.Pipeline()
	info := pipe.HMGet(r.Context(), k.Info, "name", "price", "start", "end")
	stock := pipe.Get(r.Context(), k.Stock)
	if _, err := pipe.Exec(r.Context()); err != nil && !errors.Is(err, redis.Nil) {
		s.respond(w, r, nil, fail(http.StatusServiceUnavailable, "redis unavailable"))
		return
	}
	v := info.Val()
	name, ok := v[0].(string)
	if !ok {
		s.respond(w, r, nil, fail(http.StatusNotFound, "product %d not found", id))
		return
	}
	p := productView{ID: id, Name: name, StartTime: msTime(v[2]), EndTime: msTime(v[3])}
	cents, _ := strconv.ParseInt(fmt.Sprint(v[1]), 10, 64)
	p.Price = events.Money(cents)
	p.Stock, _ = stock.Int64()
	s.respond(w, r, p, nil)
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
