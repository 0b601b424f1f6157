package schema

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
)

// Redis key layout. Every key of one product carries the hash tag {productId}, so the Lua scripts, which touch
// only one product's keys, run unchanged on Redis Cluster:
//
//	seckill:{1}:stock   string  live stock (never negative)
//	seckill:{1}:info    hash    name, price (cents), start/end (unix ms, 0 = open), listed (initial stock),
//	                            evskip (event sequence numbers skipped by RestoreSale, absent = 0)
//	seckill:{1}:buyers  hash    userId -> orderNo of the buyer's live order (the one-per-user mark)
//	seckill:{1}:orders  hash    orderNo -> "state|userId|quantity" (state 0 awaiting payment, 1 paid, -1 cancelled)
//	seckill:{1}:seq     string  order number counter
//	seckill:{1}:evseq   string  event sequence: the last number stamped on a reservation, payment or cancellation
//	seckill:{1}:outbox  stream  events not yet confirmed by RocketMQ (see Outbox)
//	seckill:products    set     ids of every product loaded (the outbox relay walks it)
type Keys struct {
	ProductID                                       int64
	Stock, Info, Buyers, Orders, Seq, Outbox, EvSeq string
}

// ProductsKey is the set of every loaded product id.
const ProductsKey = "seckill:products"

// KeysFor returns the keys of one product.
func KeysFor(productID int64) Keys {
	p := "seckill:{" + strconv.FormatInt(productID, 10) + "}:"
	return Keys{ProductID: productID, Stock: p + "stock", Info: p + "info", Buyers: p + "buyers",
		Orders: p + "orders", Seq: p + "seq", Outbox: p + "outbox", EvSeq: p + "evseq"}
}

var (
	//go:embed redis/reserve.lua
	reserveSrc string
	//go:embed redis/settle.lua
	settleSrc string
	//go:embed redis/load.lua
	loadSrc string
	//go:embed redis/restore.lua
	restoreSrc string

	reserveScript = redis.NewScript(reserveSrc)
	settleScript  = redis.NewScript(settleSrc)
	loadScript    = redis.NewScript(loadSrc)
	restoreScript = redis.NewScript(restoreSrc)
)

// LoadScripts loads every script into Redis ahead of the first request. Scripts run by SHA and are reloaded
// transparently after a Redis restart (NOSCRIPT), so calling it is an optimisation, not a requirement.
func LoadScripts(ctx context.Context, rdb redis.Scripter) error {
	for name, s := range map[string]*redis.Script{"reserve": reserveScript, "settle": settleScript, "load": loadScript, "restore": restoreScript} {
		if err := s.Load(ctx, rdb).Err(); err != nil {
			return fmt.Errorf("load %s script: %w", name, err)
		}
	}
	return nil
}

// Outcome is the typed result of a Redis script; callers never see the script's raw integers.
type Outcome int

// Outcomes of Reserve and Settle.
const (
	UnknownProduct     Outcome = iota // no sale is loaded for the product
	Reserved                          // stock taken, buyer marked, SeckillReserved in the outbox
	SoldOut                           // not enough stock for the quantity
	AlreadyBought                     // the buyer holds a live order for the product
	NotStarted                        // the sale window has not opened
	Ended                             // the sale window has closed
	UnknownOrder                      // Settle: no such order
	Settled                           // Settle: paid or cancelled, event in the outbox
	NotAwaitingPayment                // Settle: the order is already paid or cancelled
)

var outcomeNames = [...]string{"unknown_product", "reserved", "sold_out", "already_bought", "not_started", "ended",
	"unknown_order", "settled", "not_awaiting_payment"}

// String returns the outcome's metric label.
func (o Outcome) String() string { return outcomeNames[o] }

// ReserveOutcomes lists the outcomes Reserve can return, for metrics.
var ReserveOutcomes = []Outcome{UnknownProduct, Reserved, SoldOut, AlreadyBought, NotStarted, Ended}

// ReserveResult is what Reserve decided. OrderNo is set for Reserved and AlreadyBought, Stock is the stock after
// the reservation (Reserved) or the stock found (SoldOut), EventSeq the event sequence number of the
// SeckillReserved (Reserved).
type ReserveResult struct {
	Outcome  Outcome
	OrderNo  string
	Stock    int64
	OutboxID string
	EventSeq int64
}

// ReserveRequest is one buyer's part of a reservation: who, how many units, when (the sale window is checked
// against it and it becomes the event's time) and the id of the SeckillReserved event.
type ReserveRequest struct {
	UserID, Quantity int64
	EventID          string
	Now              time.Time
}

// Reserve runs reserve.lua for one buyer: sale window, one live order per buyer, stock >= quantity, decrement,
// buyer mark, the product's next event sequence number and the outbox append of SeckillReserved, all in one atomic
// step. It is safe for concurrent use; two calls for the same buyer and product never both reserve.
func Reserve(ctx context.Context, rdb redis.Scripter, productID, userID, quantity int64, eventID string, now time.Time) (ReserveResult, error) {
	res, err := ReserveAll(ctx, rdb, productID, []ReserveRequest{{UserID: userID, Quantity: quantity, EventID: eventID, Now: now}})
	if err != nil {
		return ReserveResult{}, err
	}
	return res[0], nil
}

// MaxReserveAll is the most buyers one ReserveAll call may carry.
const MaxReserveAll = 128

// ReserveAll runs reserve.lua once for several buyers of one product (1 to MaxReserveAll): one atomic step in
// which the buyers are decided in the order given, each exactly as Reserve would decide it after the ones before
// it. The results are in the same order. An error means no result: ScriptCallError tells whether the script ran.
// It is safe for concurrent use.
func ReserveAll(ctx context.Context, rdb redis.Scripter, productID int64, reqs []ReserveRequest) ([]ReserveResult, error) {
	if len(reqs) == 0 || len(reqs) > MaxReserveAll {
		return nil, fmt.Errorf("reserve product %d: %d buyers in one call, want 1 to %d", productID, len(reqs), MaxReserveAll)
	}
	k := KeysFor(productID)
	args := make([]any, 1, 1+4*len(reqs))
	args[0] = productID
	for _, r := range reqs {
		args = append(args, r.UserID, r.Quantity, r.Now.UnixMilli(), r.EventID)
	}
	v, err := reserveScript.Run(ctx, rdb, []string{k.Stock, k.Info, k.Buyers, k.Orders, k.Seq, k.Outbox, k.EvSeq}, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("reserve.lua for product %d (%d buyers): %w", productID, len(reqs), err)
	}
	if len(v) != len(reqs) {
		return nil, fmt.Errorf("reserve product %d: %d replies for %d buyers", productID, len(v), len(reqs))
	}
	out := make([]ReserveResult, len(reqs))
	for i, x := range v {
		r, ok := x.([]any)
		if !ok {
			return nil, fmt.Errorf("reserve product %d: unexpected script reply %v", productID, x)
		}
		if out[i], err = reserveResult(r); err != nil {
			return nil, fmt.Errorf("reserve product %d for user %d: %w", productID, reqs[i].UserID, err)
		}
	}
	return out, nil
}

// reserveResult decodes one buyer's reply of reserve.lua.
func reserveResult(v []any) (ReserveResult, error) {
	switch code(v) {
	case 0:
		return ReserveResult{Outcome: UnknownProduct}, nil
	case 1:
		return ReserveResult{Outcome: Reserved, OrderNo: str(v, 1), Stock: num(v, 2), OutboxID: str(v, 3),
			EventSeq: num(v, 4)}, nil
	case 2:
		return ReserveResult{Outcome: SoldOut, Stock: num(v, 1)}, nil
	case 3:
		return ReserveResult{Outcome: AlreadyBought, OrderNo: str(v, 1)}, nil
	case 4:
		return ReserveResult{Outcome: NotStarted}, nil
	case 5:
		return ReserveResult{Outcome: Ended}, nil
	}
	return ReserveResult{}, fmt.Errorf("unexpected script reply %v", v)
}

// Order states kept in the orders hash and in tb_seckill_order.status.
const (
	StateAwaitingPayment = 0
	StatePaid            = 1
	StateCancelled       = -1
)

// Target is what Settle makes of an order awaiting payment: Paid, or Cancelled with the reason the
// SeckillOrderCancelled event carries.
type Target struct {
	State  int    // StatePaid or StateCancelled
	Reason string // of a cancellation: events.ReasonUser, events.ReasonPaymentTimeout; empty for a payment
}

// Paid is the target of a payment.
var Paid = Target{State: StatePaid}

// Cancelled is the target of a cancellation for reason.
func Cancelled(reason string) Target { return Target{State: StateCancelled, Reason: reason} }

// SettleResult is what Settle decided. For Settled, Stock is the product's stock afterwards and StockBefore before
// (they differ for a cancellation), OutboxID the outbox entry of the event, EventSeq its event sequence number,
// and UserID, Quantity, Name and Price those of the order; State is the order's state when NotAwaitingPayment.
type SettleResult struct {
	Outcome     Outcome
	Stock       int64
	StockBefore int64
	OutboxID    string
	EventSeq    int64
	UserID      int64
	Quantity    int64
	Name        string
	Price       events.Money
	State       int
}

// Settle runs settle.lua: an order awaiting payment becomes paid (Paid) or cancelled (Cancelled(reason)), and the
// matching event goes to the outbox; a cancellation returns the stock and the buyer mark. Of any number of
// concurrent calls for one order exactly one settles it; the others get NotAwaitingPayment.
func Settle(ctx context.Context, rdb redis.Scripter, productID int64, orderNo string, target Target, eventID string, now time.Time) (SettleResult, error) {
	if target.State != StatePaid && target.State != StateCancelled {
		return SettleResult{}, fmt.Errorf("settle order %s: target state %d is neither paid nor cancelled", orderNo, target.State)
	}
	k := KeysFor(productID)
	v, err := settleScript.Run(ctx, rdb, []string{k.Stock, k.Buyers, k.Orders, k.Outbox, k.Info, k.EvSeq},
		orderNo, target.State, now.UnixMilli(), eventID, productID, target.Reason).Slice()
	if err != nil {
		return SettleResult{}, fmt.Errorf("settle order %s: %w", orderNo, err)
	}
	switch code(v) {
	case 0:
		return SettleResult{Outcome: UnknownOrder}, nil
	case 1:
		return SettleResult{Outcome: Settled, Stock: num(v, 1), OutboxID: str(v, 2), UserID: num(v, 3),
			Quantity: num(v, 4), EventSeq: num(v, 5), StockBefore: num(v, 6), Name: str(v, 7),
			Price: events.Money(num(v, 8))}, nil
	case 2:
		state, _ := strconv.Atoi(str(v, 1))
		return SettleResult{Outcome: NotAwaitingPayment, State: state}, nil
	}
	return SettleResult{}, fmt.Errorf("settle order %s: unexpected script reply %v", orderNo, v)
}

// Sale is a product's sale as loaded into Redis.
type Sale struct {
	ProductID  int64
	Name       string
	Price      events.Money
	Start, End *time.Time
	Stock      int64 // stock to load (the live stock)
	Listed     int64 // listed (initial) stock
}

// LoadSale puts a sale into Redis unless the product is already there, and reports whether it loaded it. It first
// registers the product in ProductsKey (a separate call: on Redis Cluster the set lies in another slot than the
// product's keys), so a product is never loaded without being registered; a registered product that is not loaded
// (a failure between the two calls) is skipped by the set's readers and loaded by the next call. Live stock is
// never overwritten, so calling it on every start (warm-up), from any number of instances at once, is safe.
func LoadSale(ctx context.Context, rdb redis.Cmdable, s Sale) (bool, error) {
	k := KeysFor(s.ProductID)
	if err := rdb.SAdd(ctx, ProductsKey, s.ProductID).Err(); err != nil {
		return false, fmt.Errorf("register product %d in redis: %w", s.ProductID, err)
	}
	v, err := loadScript.Run(ctx, rdb, []string{k.Stock, k.Info}, s.Name, int64(s.Price),
		unixMilli(s.Start), unixMilli(s.End), s.Stock, s.Listed).Slice()
	if err != nil {
		return false, fmt.Errorf("load product %d into redis: %w", s.ProductID, err)
	}
	return code(v) == 1, nil
}

func unixMilli(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.UnixMilli()
}

func code(v []any) int64 { return num(v, 0) }

func num(v []any, i int) int64 {
	if i >= len(v) {
		return -1
	}
	switch x := v[i].(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return -1
}

func str(v []any, i int) string {
	if i >= len(v) {
		return ""
	}
	switch x := v[i].(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// ErrBadOutboxEntry marks an outbox entry that cannot be turned into an event.
var ErrBadOutboxEntry = errors.New("bad outbox entry")

// OrderState is one order as Redis arbitrates it: its buyer, quantity and state (StateAwaitingPayment, StatePaid
// or StateCancelled).
type OrderState struct {
	OrderNo  string
	UserID   int64
	Quantity int64
	State    int
}

// EventSeqMargin is how far past the highest event sequence number MySQL has seen RestoreSale sets the
// product's event sequence. The events Redis stamped before it lost its data and that were still on their way to
// MySQL (in RocketMQ, the retry topic or the DLQ) have numbers above what MySQL has seen; new events must be
// numbered above all of them, so that the projection, which keeps the stock of the highest number it has seen,
// takes the stock of the new ones. A million is more than a backlog of hours at the measured drain rate of
// ~7,000 events/s holds for one product, and costs nothing: numbers only need to grow.
const EventSeqMargin = 1_000_000

// RestoreSale loads a sale Redis lost (warm-up) together with what MySQL knows of its orders, in one atomic
// script on the product's shard: each order's state, the buyer mark of each live order (awaiting payment or paid),
// an order counter past every known order number, so new order numbers never repeat old ones, and an event
// sequence of seenSeq + EventSeqMargin, where seenSeq is the highest event sequence number MySQL has seen for the
// product (numbers skipped, seenSeq + EventSeqMargin - applied, are kept in the info hash as evskip, so that the
// audit does not wait for them; applied is the number of sequenced events MySQL applied). It registers the
// product in ProductsKey first (as LoadSale does) and reports whether it loaded the sale: when the product is
// already loaded nothing changes, so instances warming up at once, or beside a live sale, never disturb it, and
// no instance serves the product before its orders are back.
func RestoreSale(ctx context.Context, rdb redis.Cmdable, s Sale, orders []OrderState, seenSeq, applied int64) (bool, error) {
	k := KeysFor(s.ProductID)
	if err := rdb.SAdd(ctx, ProductsKey, s.ProductID).Err(); err != nil {
		return false, fmt.Errorf("register product %d in redis: %w", s.ProductID, err)
	}
	var maxSeq int64
	args := []any{s.Name, int64(s.Price), unixMilli(s.Start), unixMilli(s.End), s.Stock, s.Listed, 0,
		seenSeq + EventSeqMargin, seenSeq + EventSeqMargin - applied}
	for _, o := range orders {
		buyer := ""
		if o.State != StateCancelled {
			buyer = strconv.FormatInt(o.UserID, 10)
		}
		args = append(args, o.OrderNo, fmt.Sprintf("%d|%d|%d", o.State, o.UserID, o.Quantity), buyer)
		if _, seq, ok := strings.Cut(o.OrderNo, "-"); ok {
			if n, err := strconv.ParseInt(seq, 10, 64); err == nil {
				maxSeq = max(maxSeq, n)
			}
		}
	}
	args[6] = maxSeq
	v, err := restoreScript.Run(ctx, rdb, []string{k.Stock, k.Info, k.Buyers, k.Orders, k.Seq, k.EvSeq}, args...).Slice()
	if err != nil {
		return false, fmt.Errorf("restore product %d into redis: %w", s.ProductID, err)
	}
	return code(v) == 1, nil
}

// ReadOrder returns an order as Redis records it (the orders hash), and false when Redis knows no such order. An
// order's buyer and quantity never change once reserved; its state is the one the scripts last decided.
func ReadOrder(ctx context.Context, rdb redis.Cmdable, productID int64, orderNo string) (OrderState, bool, error) {
	rec, err := rdb.HGet(ctx, KeysFor(productID).Orders, orderNo).Result()
	if errors.Is(err, redis.Nil) {
		return OrderState{}, false, nil
	}
	if err != nil {
		return OrderState{}, false, fmt.Errorf("read order %s: %w", orderNo, err)
	}
	o, err := parseOrder(orderNo, rec)
	return o, err == nil, err
}

// parseOrder reads an entry of the orders hash, "state|userId|quantity"; any other shape is ErrBadOrderRecord.
func parseOrder(orderNo, rec string) (OrderState, error) {
	parts := strings.Split(rec, "|")
	if len(parts) != 3 {
		return OrderState{}, fmt.Errorf("order %s: %w %q", orderNo, ErrBadOrderRecord, rec)
	}
	o := OrderState{OrderNo: orderNo}
	var err1, err2, err3 error
	o.State, err1 = strconv.Atoi(parts[0])
	o.UserID, err2 = strconv.ParseInt(parts[1], 10, 64)
	o.Quantity, err3 = strconv.ParseInt(parts[2], 10, 64)
	if errors.Join(err1, err2, err3) != nil {
		return OrderState{}, fmt.Errorf("order %s: %w %q", orderNo, ErrBadOrderRecord, rec)
	}
	return o, nil
}

// ErrNoSale is returned by ReadSaleState for a product Redis has no sale of.
var ErrNoSale = errors.New("no sale loaded")

// SaleState is one product's sale as Redis holds it, read in one MULTI/EXEC so that its parts agree (the scripts
// are atomic, and so is the read).
type SaleState struct {
	Listed int64        // listed (initial) stock
	Stock  int64        // live stock
	Orders []OrderState // every order Redis knows, in no particular order
	// EventSeq is the number of events the scripts stamped that MySQL is expected to apply: the event sequence
	// minus the numbers RestoreSale skipped.
	EventSeq int64
	Outbox   int64 // entries waiting in the outbox
}

// ReadSaleState reads a product's sale from Redis, or ErrNoSale.
func ReadSaleState(ctx context.Context, rdb redis.Cmdable, productID int64) (SaleState, error) {
	k := KeysFor(productID)
	pipe := rdb.TxPipeline()
	info := pipe.HMGet(ctx, k.Info, "listed", "evskip")
	stock := pipe.Get(ctx, k.Stock)
	orders := pipe.HGetAll(ctx, k.Orders)
	evseq := pipe.Get(ctx, k.EvSeq)
	outbox := pipe.XLen(ctx, k.Outbox)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return SaleState{}, fmt.Errorf("read sale of product %d: %w", productID, err)
	}
	vals := info.Val()
	if len(vals) < 2 || vals[0] == nil {
		return SaleState{}, fmt.Errorf("product %d: %w", productID, ErrNoSale)
	}
	s := SaleState{Outbox: outbox.Val()}
	listed, _ := vals[0].(string)
	skip, _ := vals[1].(string)
	s.Listed, _ = strconv.ParseInt(listed, 10, 64)
	s.Stock, _ = strconv.ParseInt(stock.Val(), 10, 64)
	seq, _ := strconv.ParseInt(evseq.Val(), 10, 64)
	skipped, _ := strconv.ParseInt(skip, 10, 64)
	s.EventSeq = seq - skipped
	for no, rec := range orders.Val() {
		o, err := parseOrder(no, rec)
		if err != nil {
			return SaleState{}, fmt.Errorf("product %d: %w", productID, err)
		}
		s.Orders = append(s.Orders, o)
	}
	return s, nil
}

// ErrBadOrderRecord marks an entry of the orders hash that is not "state|userId|quantity".
var ErrBadOrderRecord = errors.New("bad order record")
