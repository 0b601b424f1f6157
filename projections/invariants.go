package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/seckill/seckill/schema"
)

// Invariant names, as numbered in CONTRACT.md.
const (
	InvariantNoOversell   = "no_oversell"
	InvariantOnePerUser   = "one_per_user"
	InvariantNothingLost  = "nothing_lost"
	InvariantConservation = "conservation"
	InvariantVersion      = "version"
	// InvariantRedisDecides: Redis and MySQL agree order by order (CONTRACT.md invariants 7 and 8), checked by
	// Audit once nothing is pending.
	InvariantRedisDecides = "redis_decides"
)

// Failure is one broken invariant and what breaks it (with up to a few sample keys).
type Failure struct {
	Invariant string
	Detail    string
}

// Report is the state of one product's sale and the invariants of CONTRACT.md that it breaks, if any.
type Report struct {
	ProductID    int64
	Listed       int64  // stock stated by ProductListed in tb_event
	MySQLStock   int64  // tb_seckill_product.stock
	RedisStock   *int64 // live Redis stock when checked (CheckInvariantsWithRedis), else nil
	Version      int64  // tb_seckill_product.version
	Reservations int64  // SeckillReserved events of the product in tb_event
	Orders       int64  // order rows
	Paid         int64  // order rows with status 1
	Cancelled    int64  // order rows with status -1
	Rejected     int64  // order events of tb_event whose order has no row: MySQL could not hold them (Rejected)
	Reserved     int64  // Σ quantity of orders not cancelled
	StockChanges int64  // tb_stock_log rows (deductions + rollbacks)
	// Set by Audit only:
	Pending       int64 // events Redis stamped that MySQL has not applied (outbox, broker, retry topic, DLQ)
	RedisReserved int64 // Σ quantity of the orders Redis holds not cancelled
	Outbox        int64 // of the pending events, those still in the Redis outbox
	Failures      []Failure
}

// OK reports whether every invariant holds.
func (r Report) OK() bool { return len(r.Failures) == 0 }

// String is a one-line summary followed by one line per failure.
func (r Report) String() string {
	var b strings.Builder
	redis := "unchecked"
	if r.RedisStock != nil {
		redis = fmt.Sprint(*r.RedisStock)
	}
	fmt.Fprintf(&b, "product %d: listed=%d mysqlStock=%d redisStock=%s reserved=%d orders=%d paid=%d cancelled=%d "+
		"rejected=%d version=%d pending=%d consistent=%t", r.ProductID, r.Listed, r.MySQLStock, redis, r.Reserved,
		r.Orders, r.Paid, r.Cancelled, r.Rejected, r.Version, r.Pending, r.OK())
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  %s: %s", f.Invariant, f.Detail)
	}
	return b.String()
}

func (r *Report) fail(invariant, format string, args ...any) {
	r.Failures = append(r.Failures, Failure{Invariant: invariant, Detail: fmt.Sprintf(format, args...)})
}

// CheckInvariants checks, for one product, every invariant of CONTRACT.md that MySQL alone can tell: no oversell,
// one live order per buyer, every order event of tb_event projected (an order row with one deduct log, a buyer
// mark while live, a rollback log once cancelled; none rejected), conservation and version. It reads without
// locking and assumes nothing is pending: run it once the pipeline has drained (Audit knows what is pending). The
// error is for failed queries, not broken invariants.
func CheckInvariants(ctx context.Context, db *sql.DB, productID int64) (Report, error) {
	r := Report{ProductID: productID}
	c := checker{ctx: ctx, db: db, r: &r}
	c.run(true)
	return r, c.err
}

// CheckInvariantsWithRedis is CheckInvariants plus the invariants that involve the live Redis stock of the
// product: Redis stock ≥ 0 and listed = Redis stock + Σ quantity of orders not cancelled.
func CheckInvariantsWithRedis(ctx context.Context, db *sql.DB, productID, redisStock int64) (Report, error) {
	r, err := CheckInvariants(ctx, db, productID)
	if err != nil {
		return r, err
	}
	r.RedisStock = &redisStock
	if redisStock < 0 {
		r.fail(InvariantNoOversell, "redis stock %d < 0", redisStock)
	}
	if r.Listed != redisStock+r.Reserved {
		r.fail(InvariantConservation, "listed %d != redis stock %d + reserved %d", r.Listed, redisStock, r.Reserved)
	}
	return r, nil
}

// Audit compares a product's sale in Redis (read with schema.ReadSaleState) with MySQL; it is what
// GET /admin/products/{id}/audit answers and what the tests and the fault suite check.
//
// Pending is the number of events Redis stamped that MySQL has not recorded (the event sequence against
// tb_seckill_product.events_applied, or, for a product MySQL has no row of, against the events it rejected):
// events in the outbox, in RocketMQ, in the retry topic or in the DLQ.
// Whatever is pending, Redis must conserve its stock (listed = stock + Σ live quantity) and neither stock may be
// negative. Once nothing is pending, every invariant of CheckInvariants must hold and Redis and MySQL must agree
// order by order (same buyer, quantity and status, no order on one side only) and on the stock: an acknowledged
// order that MySQL lacks, holds in another state, or rejected breaks the report.
func Audit(ctx context.Context, db *sql.DB, productID int64, redis schema.SaleState) (Report, error) {
	r := Report{ProductID: productID, RedisStock: &redis.Stock, Outbox: redis.Outbox}
	c := checker{ctx: ctx, db: db, r: &r}
	var applied int64
	if !c.scan(`SELECT events_applied FROM tb_seckill_product WHERE id = ?`, &applied) && c.err == nil {
		// No product row: every event of the product that reached MySQL was rejected; those are not pending.
		c.scan(`SELECT COUNT(*) `+orderEventsOf+` AND JSON_VALUE(e.payload, '$.seq') IS NOT NULL`, &applied)
	}
	r.Pending = max(0, redis.EventSeq-applied)
	atRest := r.Pending == 0
	c.run(atRest)
	if c.err != nil {
		return r, c.err
	}
	for _, o := range redis.Orders {
		if o.State != schema.StateCancelled {
			r.RedisReserved += o.Quantity
		}
	}
	if redis.Stock < 0 {
		r.fail(InvariantNoOversell, "redis stock %d < 0", redis.Stock)
	}
	if redis.Listed != redis.Stock+r.RedisReserved {
		r.fail(InvariantConservation, "redis: listed %d != stock %d + reserved %d", redis.Listed, redis.Stock,
			r.RedisReserved)
	}
	if atRest {
		if redis.Stock != r.MySQLStock {
			r.fail(InvariantRedisDecides, "redis stock %d != mysql stock %d with nothing pending", redis.Stock,
				r.MySQLStock)
		}
		c.compareOrders(redis.Orders)
	}
	return r, c.err
}

type checker struct {
	ctx context.Context
	db  *sql.DB
	r   *Report
	err error
}

func (c *checker) scan(q string, dest ...any) bool {
	if c.err != nil {
		return false
	}
	err := c.db.QueryRowContext(c.ctx, q, c.r.ProductID).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return false
	}
	if err != nil {
		c.err = fmt.Errorf("check invariants of product %d: %w", c.r.ProductID, err)
		return false
	}
	return true
}

// samples returns up to 5 values of the first column of q, which takes the product id once.
func (c *checker) samples(q string) []string {
	if c.err != nil {
		return nil
	}
	rows, err := c.db.QueryContext(c.ctx, q+" LIMIT 5", c.r.ProductID)
	if err != nil {
		c.err = fmt.Errorf("check invariants of product %d: %w", c.r.ProductID, err)
		return nil
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			c.err = fmt.Errorf("check invariants of product %d: %w", c.r.ProductID, err)
			return nil
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		c.err = fmt.Errorf("check invariants of product %d: %w", c.r.ProductID, err)
	}
	return out
}

func (c *checker) expectNone(invariant, what, q string) {
	if s := c.samples(q); len(s) > 0 {
		c.r.fail(invariant, "%s: %s", what, strings.Join(s, ", "))
	}
}

// reservationsOf selects the SeckillReserved events of the product (one placeholder: the product id).
const reservationsOf = `FROM tb_event e WHERE e.event_type = 'SeckillReserved'
	AND CAST(JSON_VALUE(e.payload, '$.productId') AS SIGNED) = ?`

// orderEventsOf selects the reservations, payments and cancellations of the product (one placeholder).
const orderEventsOf = `FROM tb_event e WHERE e.event_type IN ('SeckillReserved', 'SeckillOrderPaid',
	'SeckillOrderCancelled') AND CAST(JSON_VALUE(e.payload, '$.productId') AS SIGNED) = ?`

// run runs the checks; atRest adds those that hold only once every event is applied (while events are pending,
// MySQL may, for a moment, hold a reservation that reused a unit whose cancellation has not arrived yet).
func (c *checker) run(atRest bool) {
	r := c.r
	if !c.scan(`SELECT CAST(JSON_VALUE(payload, '$.stock') AS SIGNED) FROM tb_event
		WHERE event_type = 'ProductListed' AND aggregate_id = CAST(? AS CHAR) ORDER BY seq LIMIT 1`, &r.Listed) && c.err == nil {
		r.fail(InvariantConservation, "no ProductListed event in tb_event")
	}
	if !c.scan(`SELECT stock, version FROM tb_seckill_product WHERE id = ?`, &r.MySQLStock, &r.Version) && c.err == nil {
		r.fail(InvariantNothingLost, "no tb_seckill_product row")
	}
	c.scan(`SELECT COUNT(*), IFNULL(SUM(status = 1), 0), IFNULL(SUM(status = -1), 0),
		IFNULL(SUM(CASE WHEN status <> -1 THEN quantity END), 0) FROM tb_seckill_order WHERE product_id = ?`,
		&r.Orders, &r.Paid, &r.Cancelled, &r.Reserved)
	if r.MySQLStock < 0 {
		r.fail(InvariantNoOversell, "mysql stock %d < 0", r.MySQLStock)
	}
	if !atRest {
		return
	}
	// The scans of tb_event and tb_stock_log below are the costly part; they wait until nothing is pending.
	c.scan(`SELECT COUNT(*) FROM tb_stock_log WHERE product_id = ?`, &r.StockChanges)
	c.scan(`SELECT COUNT(*) `+reservationsOf, &r.Reservations)
	c.scan(`SELECT COUNT(*) `+orderEventsOf+` AND NOT EXISTS
		(SELECT 1 FROM tb_seckill_order o WHERE o.order_no = e.aggregate_id)`, &r.Rejected)
	if r.Reserved > r.Listed {
		r.fail(InvariantNoOversell, "reserved %d > listed %d", r.Reserved, r.Listed)
	}

	c.expectNone(InvariantOnePerUser, "users with several live orders", `SELECT CONCAT(user_id, ' x', COUNT(*))
		FROM tb_seckill_order WHERE product_id = ? AND status <> -1 GROUP BY user_id HAVING COUNT(*) > 1`)

	c.expectNone(InvariantNothingLost, "order events MySQL could not hold (rejected: no product row when applied)",
		`SELECT e.aggregate_id `+orderEventsOf+`
		AND NOT EXISTS (SELECT 1 FROM tb_seckill_order o WHERE o.order_no = e.aggregate_id)`)
	c.expectNone(InvariantNothingLost, "orders with no SeckillReserved event", `SELECT o.order_no
		FROM tb_seckill_order o WHERE o.product_id = ? AND NOT EXISTS
		(SELECT 1 FROM tb_event e WHERE e.aggregate_id = o.order_no AND e.event_type = 'SeckillReserved')`)
	c.expectNone(InvariantNothingLost, "orders without exactly one deduct log (and one rollback log iff cancelled)",
		`SELECT o.order_no FROM tb_seckill_order o LEFT JOIN tb_stock_log l ON l.order_no = o.order_no
		WHERE o.product_id = ? GROUP BY o.order_no, o.status
		HAVING IFNULL(SUM(l.type = 1), 0) <> 1 OR IFNULL(SUM(l.type = 2), 0) <> (o.status = -1)`)
	c.expectNone(InvariantNothingLost, "stock logs without an order", `SELECT l.order_no FROM tb_stock_log l
		WHERE l.product_id = ? AND NOT EXISTS (SELECT 1 FROM tb_seckill_order o WHERE o.order_no = l.order_no)`)
	c.expectNone(InvariantNothingLost, "live orders without a buyer mark", `SELECT o.order_no FROM tb_seckill_order o
		WHERE o.product_id = ? AND o.status <> -1 AND NOT EXISTS (SELECT 1 FROM tb_user_seckill u
			WHERE u.order_no = o.order_no AND u.user_id = o.user_id AND u.product_id = o.product_id)`)
	c.expectNone(InvariantNothingLost, "buyer marks of cancelled or missing orders", `SELECT u.order_no
		FROM tb_user_seckill u WHERE u.product_id = ? AND NOT EXISTS (SELECT 1 FROM tb_seckill_order o
			WHERE o.order_no = u.order_no AND o.status <> -1)`)

	if r.Listed != r.MySQLStock+r.Reserved {
		r.fail(InvariantConservation, "listed %d != mysql stock %d + reserved %d", r.Listed, r.MySQLStock, r.Reserved)
	}
	if r.Version != r.StockChanges {
		r.fail(InvariantVersion, "version %d != %d stock changes logged", r.Version, r.StockChanges)
	}
}

// compareOrders checks that MySQL holds exactly Redis's orders of the product, each with Redis's buyer, quantity
// and state.
func (c *checker) compareOrders(orders []schema.OrderState) {
	if c.err != nil {
		return
	}
	rows, err := c.db.QueryContext(c.ctx, `SELECT order_no, user_id, quantity, status FROM tb_seckill_order
		WHERE product_id = ?`, c.r.ProductID)
	if err != nil {
		c.err = fmt.Errorf("audit product %d: %w", c.r.ProductID, err)
		return
	}
	defer rows.Close()
	mysqlOrders := map[string]schema.OrderState{}
	for rows.Next() {
		var o schema.OrderState
		if err := rows.Scan(&o.OrderNo, &o.UserID, &o.Quantity, &o.State); err != nil {
			c.err = fmt.Errorf("audit product %d: %w", c.r.ProductID, err)
			return
		}
		mysqlOrders[o.OrderNo] = o
	}
	if err := rows.Err(); err != nil {
		c.err = fmt.Errorf("audit product %d: %w", c.r.ProductID, err)
		return
	}
	var missing, differ, phantom []string
	for _, o := range orders {
		m, ok := mysqlOrders[o.OrderNo]
		switch {
		case !ok:
			missing = append(missing, o.OrderNo)
		case m != o:
			differ = append(differ, fmt.Sprintf("%s (redis %d|%d|%d, mysql %d|%d|%d)", o.OrderNo, o.State, o.UserID,
				o.Quantity, m.State, m.UserID, m.Quantity))
		}
		delete(mysqlOrders, o.OrderNo)
	}
	for no := range mysqlOrders {
		phantom = append(phantom, no)
	}
	for _, l := range []struct {
		what string
		s    []string
	}{{"orders Redis holds that MySQL lacks", missing}, {"orders MySQL holds in another state than Redis", differ},
		{"orders MySQL holds that Redis does not know", phantom}} {
		if len(l.s) > 0 {
			slices.Sort(l.s)
			c.r.fail(InvariantRedisDecides, "%d %s: %s", len(l.s), l.what, strings.Join(l.s[:min(5, len(l.s))], ", "))
		}
	}
}

// EventSeqs returns, for one product, the highest event sequence number MySQL has seen (of a stock change or of an
// order's status) and the number of sequenced events it applied: what warm-up restores Redis's event sequence
// from (schema.RestoreSale).
func EventSeqs(ctx context.Context, db *sql.DB, productID int64) (seen, applied int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT GREATEST(p.stock_seq,
			IFNULL((SELECT MAX(o.status_seq) FROM tb_seckill_order o WHERE o.product_id = p.id), 0)), p.events_applied
		FROM tb_seckill_product p WHERE p.id = ?`, productID).Scan(&seen, &applied)
	if err != nil {
		return 0, 0, fmt.Errorf("read event sequence of product %d: %w", productID, err)
	}
	return seen, applied, nil
}
