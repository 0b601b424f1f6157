package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Invariant names, as numbered in CONTRACT.md.
const (
	InvariantNoOversell   = "no_oversell"
	InvariantOnePerUser   = "one_per_user"
	InvariantNothingLost  = "nothing_lost"
	InvariantConservation = "conservation"
	InvariantVersion      = "version"
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
	Rejected     int64  // reservations that never became an order (rejected, compensated)
	Reserved     int64  // Σ quantity of orders not cancelled
	StockChanges int64  // tb_stock_log rows (deductions + rollbacks)
	Failures     []Failure
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
		"rejected=%d version=%d consistent=%t", r.ProductID, r.Listed, r.MySQLStock, redis, r.Reserved, r.Orders,
		r.Paid, r.Cancelled, r.Rejected, r.Version, r.OK())
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  %s: %s", f.Invariant, f.Detail)
	}
	return b.String()
}

func (r *Report) fail(invariant, format string, args ...any) {
	r.Failures = append(r.Failures, Failure{Invariant: invariant, Detail: fmt.Sprintf(format, args...)})
}

// CheckInvariants checks, for one product, every invariant of CONTRACT.md that MySQL alone can tell: no oversell,
// one live order per buyer, every SeckillReserved of tb_event projected (order, deduct log, buyer mark; or,
// cancelled, a rollback log and no mark; or rejected and compensated), conservation and version. It reads
// without locking: run it once the pipeline has drained. The error is for failed queries, not broken invariants.
func CheckInvariants(ctx context.Context, db *sql.DB, productID int64) (Report, error) {
	r := Report{ProductID: productID}
	c := checker{ctx: ctx, db: db, r: &r}
	c.run()
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

func (c *checker) run() {
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
	c.scan(`SELECT COUNT(*) FROM tb_stock_log WHERE product_id = ?`, &r.StockChanges)
	c.scan(`SELECT COUNT(*) `+reservationsOf, &r.Reservations)
	c.scan(`SELECT COUNT(*) `+reservationsOf+` AND NOT EXISTS
		(SELECT 1 FROM tb_seckill_order o WHERE o.order_no = e.aggregate_id)`, &r.Rejected)

	if r.MySQLStock < 0 {
		r.fail(InvariantNoOversell, "mysql stock %d < 0", r.MySQLStock)
	}
	if r.Reserved > r.Listed {
		r.fail(InvariantNoOversell, "reserved %d > listed %d", r.Reserved, r.Listed)
	}

	c.expectNone(InvariantOnePerUser, "users with several live orders", `SELECT CONCAT(user_id, ' x', COUNT(*))
		FROM tb_seckill_order WHERE product_id = ? AND status <> -1 GROUP BY user_id HAVING COUNT(*) > 1`)

	c.expectNone(InvariantNothingLost, "reservations with no order and no rejection",
		`SELECT e.aggregate_id `+reservationsOf+`
		AND NOT EXISTS (SELECT 1 FROM tb_seckill_order o WHERE o.order_no = e.aggregate_id)
		AND NOT EXISTS (SELECT 1 FROM tb_event x WHERE x.aggregate_id = e.aggregate_id
			AND x.event_type = 'SeckillOrderCancelled' AND JSON_VALUE(x.payload, '$.reason') = 'rejected')`)
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
