package faults

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// Kinds of violation the checker reports; each is a broken promise of CONTRACT.md.
const (
	Lost       = "lost"       // an order answered 200 is missing, or not in the state its buyer (or the timeout) left it
	Phantom    = "phantom"    // a buyer told nothing was reserved holds an order
	Duplicated = "duplicated" // an order acknowledged twice, recorded twice, or a second live order of a buyer
	Oversold   = "oversold"   // more units live than listed, or a negative stock
	Disagree   = "disagree"   // Redis and MySQL differ about an order
	Incomplete = "incomplete" // an order without its deduct/rollback log, buyer mark or SeckillReserved
	Invariant  = "invariant"  // a product-level invariant of projections.CheckInvariants
	NotDrained = "not_drained"
)

// Figures are what one scenario measured, printed per scenario and recorded in docs/faults.md.
type Figures struct {
	Scenario     string
	Buyers       int
	Requests     int           // every request the buyers sent, retries included
	Acknowledged int           // distinct orders answered 200
	Unknown      int           // kill answers 503 "outcome unknown"
	Dropped      int           // kill requests that got no answer (reset, EOF, timeout)
	Resolved     int           // of the buyers left with an unknown outcome, those /seckill/result shows holding an order
	Refused      int           // kill answers that said nothing was reserved (4xx, 503 without "unknown")
	Cancels      int           // buyer cancels answered 200
	Pays         int           // buyer payments answered 200
	Lost         int           // acknowledged orders lost or changed by the system
	Phantom      int           // orders of buyers told nothing was reserved
	Duplicated   int           // orders acknowledged or recorded twice, second live orders
	ToConsistent time.Duration // from the end of the load until Redis and MySQL agreed and everything drained
	Drained      bool
	Violations   map[string][]string // kind → samples (the first few order numbers with the reason)
}

// OK reports whether the scenario broke nothing.
func (f Figures) OK() bool { return len(f.Violations) == 0 }

// String is the scenario's one-line summary, then one line per kind of violation.
func (f Figures) String() string {
	var b strings.Builder
	consistent := "never (" + f.ToConsistent.Round(100*time.Millisecond).String() + " deadline)"
	if f.Drained {
		consistent = f.ToConsistent.Round(100 * time.Millisecond).String()
	}
	fmt.Fprintf(&b, "%s: buyers=%d requests=%d acknowledged=%d unknown=%d dropped=%d resolved=%d refused=%d "+
		"cancels=%d pays=%d lost=%d phantom=%d duplicated=%d consistent-after=%s pass=%t",
		f.Scenario, f.Buyers, f.Requests, f.Acknowledged, f.Unknown, f.Dropped, f.Resolved, f.Refused,
		f.Cancels, f.Pays, f.Lost, f.Phantom, f.Duplicated, consistent, f.OK())
	for _, k := range slices.Sorted(maps.Keys(f.Violations)) {
		v := f.Violations[k]
		fmt.Fprintf(&b, "\n  %s ×%d: %s", k, len(v), strings.Join(v[:min(len(v), 5)], "; "))
	}
	return b.String()
}

func (f *Figures) violate(kind, format string, args ...any) {
	if f.Violations == nil {
		f.Violations = map[string][]string{}
	}
	f.Violations[kind] = append(f.Violations[kind], fmt.Sprintf(format, args...))
}

// Check compares, for one product, the answers the buyers got with what Redis and MySQL hold once the pipeline
// drained. It reads without locking; its methods are not safe for concurrent use.
type Check struct {
	Load   *Load
	Redis  redis.UniversalClient
	DB     *sql.DB
	Listed int64 // the stock the product was listed with
}

type orderRow struct {
	user, qty int64
	state     int
}

// state is what the stores hold about the product's orders.
type state struct {
	redis      map[string]orderRow
	buyers     map[int64]string // Redis: user → live order
	redisStock int64
	outbox     int64
	mysql      map[string]orderRow
	mysqlStock int64
}

func (c *Check) product() int64 { return c.Load.cfg.ProductID }

func (c *Check) read(ctx context.Context) (state, error) {
	s := state{redis: map[string]orderRow{}, buyers: map[int64]string{}, mysql: map[string]orderRow{}}
	k := schema.KeysFor(c.product())
	orders, err := c.Redis.HGetAll(ctx, k.Orders).Result()
	if err != nil {
		return s, fmt.Errorf("read redis orders: %w", err)
	}
	for no, v := range orders {
		f := strings.Split(v, "|")
		if len(f) < 3 {
			return s, fmt.Errorf("redis order %s: %q is not state|user|quantity", no, v)
		}
		st, _ := strconv.Atoi(f[0])
		user, _ := strconv.ParseInt(f[1], 10, 64)
		qty, _ := strconv.ParseInt(f[2], 10, 64)
		s.redis[no] = orderRow{user: user, qty: qty, state: st}
	}
	marks, err := c.Redis.HGetAll(ctx, k.Buyers).Result()
	if err != nil {
		return s, fmt.Errorf("read redis buyers: %w", err)
	}
	for u, no := range marks {
		user, _ := strconv.ParseInt(u, 10, 64)
		s.buyers[user] = no
	}
	if s.redisStock, err = c.Redis.Get(ctx, k.Stock).Int64(); err != nil {
		return s, fmt.Errorf("read redis stock: %w", err)
	}
	if s.outbox, _, err = schema.OutboxStats(ctx, c.Redis, c.product()); err != nil {
		return s, err
	}
	rows, err := c.DB.QueryContext(ctx, `SELECT order_no, user_id, quantity, status FROM tb_seckill_order
		WHERE product_id = ?`, c.product())
	if err != nil {
		return s, fmt.Errorf("read orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var no string
		var o orderRow
		if err := rows.Scan(&no, &o.user, &o.qty, &o.state); err != nil {
			return s, fmt.Errorf("read orders: %w", err)
		}
		s.mysql[no] = o
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("read orders: %w", err)
	}
	err = c.DB.QueryRowContext(ctx, `SELECT stock FROM tb_seckill_product WHERE id = ?`, c.product()).Scan(&s.mysqlStock)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("read product: %w", err)
	}
	return s, nil
}

// settled tells whether nothing more will happen to the product: the outbox is empty, every payment timeout
// fired (no order awaits payment), MySQL has Redis's stock, and every order of Redis is in MySQL in Redis's state
// — or, cancelled in Redis, is absent from MySQL although tb_event records its reservation (a reservation the
// projection rejected: a final verdict, and a loss that the checker then reports, not one to wait for; a user
// cancel of such an order would otherwise keep the suite waiting through the whole retry schedule).
func (c *Check) settled(ctx context.Context, s state) (bool, error) {
	if s.outbox != 0 || s.redisStock != s.mysqlStock {
		return false, nil
	}
	var missing []string
	for no, r := range s.redis {
		m, ok := s.mysql[no]
		switch {
		case r.state == schema.StateAwaitingPayment:
			return false, nil
		case !ok && r.state == schema.StateCancelled:
			missing = append(missing, no)
		case !ok || m.state != r.state:
			return false, nil
		}
	}
	if len(s.mysql) != len(s.redis)-len(missing) {
		return false, nil
	}
	for _, no := range missing {
		var n int
		if err := c.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM tb_event WHERE aggregate_id = ? AND event_type = ?`,
			no, events.TypeSeckillReserved).Scan(&n); err != nil {
			return false, fmt.Errorf("read events of %s: %w", no, err)
		}
		if n == 0 {
			return false, nil
		}
	}
	return true, nil
}

// WaitDrained polls Redis and MySQL until nothing more will happen to the product (see settled) or timeout
// passes, and returns how long it waited and whether it drained.
func (c *Check) WaitDrained(ctx context.Context, timeout time.Duration) (time.Duration, bool) {
	start := time.Now()
	for {
		if s, err := c.read(ctx); err == nil {
			if ok, err := c.settled(ctx, s); err == nil && ok {
				return time.Since(start), true
			}
		}
		if time.Since(start) > timeout || ctx.Err() != nil {
			return time.Since(start), false
		}
		time.Sleep(time.Second)
	}
}

// eventsOf is what tb_event holds about each order of the product.
type eventsOf struct {
	reserved map[string]int      // SeckillReserved events per order
	reasons  map[string][]string // SeckillOrderCancelled reasons per order
	paid     map[string]int
	deducts  map[string]int // tb_stock_log type 1 per order
	rollback map[string]int // tb_stock_log type 2 per order
	marks    map[string]int64
}

func (c *Check) readEvents(ctx context.Context) (eventsOf, error) {
	e := eventsOf{reserved: map[string]int{}, reasons: map[string][]string{}, paid: map[string]int{},
		deducts: map[string]int{}, rollback: map[string]int{}, marks: map[string]int64{}}
	prefix := fmt.Sprintf("SK%d-%%", c.product())
	rows, err := c.DB.QueryContext(ctx, `SELECT aggregate_id, event_type, IFNULL(JSON_VALUE(payload, '$.reason'), '')
		FROM tb_event WHERE aggregate_id LIKE ?`, prefix)
	if err != nil {
		return e, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var no, typ, reason string
		if err := rows.Scan(&no, &typ, &reason); err != nil {
			return e, fmt.Errorf("read events: %w", err)
		}
		switch typ {
		case events.TypeSeckillReserved:
			e.reserved[no]++
		case events.TypeSeckillOrderCancelled:
			e.reasons[no] = append(e.reasons[no], reason)
		case events.TypeSeckillOrderPaid:
			e.paid[no]++
		}
	}
	if err := rows.Err(); err != nil {
		return e, fmt.Errorf("read events: %w", err)
	}
	logs, err := c.DB.QueryContext(ctx, `SELECT order_no, type FROM tb_stock_log WHERE product_id = ?`, c.product())
	if err != nil {
		return e, fmt.Errorf("read stock logs: %w", err)
	}
	defer logs.Close()
	for logs.Next() {
		var no string
		var typ int
		if err := logs.Scan(&no, &typ); err != nil {
			return e, fmt.Errorf("read stock logs: %w", err)
		}
		if typ == 1 {
			e.deducts[no]++
		} else {
			e.rollback[no]++
		}
	}
	if err := logs.Err(); err != nil {
		return e, fmt.Errorf("read stock logs: %w", err)
	}
	marks, err := c.DB.QueryContext(ctx, `SELECT order_no, user_id FROM tb_user_seckill WHERE product_id = ?`, c.product())
	if err != nil {
		return e, fmt.Errorf("read buyer marks: %w", err)
	}
	defer marks.Close()
	for marks.Next() {
		var no string
		var user int64
		if err := marks.Scan(&no, &user); err != nil {
			return e, fmt.Errorf("read buyer marks: %w", err)
		}
		e.marks[no] = user
	}
	return e, marks.Err()
}

// expectation is what the buyer's answers say the final state of an acknowledged order must be.
type expectation struct {
	states  []int    // acceptable final states
	reasons []string // acceptable cancellation reasons when cancelled
}

func (x expectation) String() string {
	var s []string
	for _, st := range x.states {
		if st == schema.StateCancelled {
			s = append(s, "cancelled("+strings.Join(x.reasons, "|")+")")
		} else {
			s = append(s, stateName(st))
		}
	}
	return strings.Join(s, " or ")
}

func stateName(st int) string {
	switch st {
	case schema.StatePaid:
		return "paid"
	case schema.StateCancelled:
		return "cancelled"
	case schema.StateAwaitingPayment:
		return "awaiting payment"
	}
	return strconv.Itoa(st)
}

// expect derives an acknowledged order's final state from what its buyer did after the 200: a cancel answered
// 200 leaves it cancelled (user), a payment answered 200 paid; an unanswered cancel or payment leaves either
// that or the payment timeout's cancellation; otherwise the payment timeout cancels it.
func expect(b *Buyer, orderNo string) expectation {
	timeout := expectation{states: []int{schema.StateCancelled}, reasons: []string{events.ReasonPaymentTimeout}}
	for _, a := range b.Answers {
		if a.Op != OpPay && a.Op != OpCancel || a.OrderNo != orderNo {
			continue
		}
		switch {
		case a.Status == http.StatusOK && a.Op == OpCancel:
			return expectation{states: []int{schema.StateCancelled}, reasons: []string{events.ReasonUser}}
		case a.Status == http.StatusOK && a.Op == OpPay:
			return expectation{states: []int{schema.StatePaid}}
		case a.Unknown() && a.Op == OpCancel:
			timeout.reasons = []string{events.ReasonUser, events.ReasonPaymentTimeout}
		case a.Unknown() && a.Op == OpPay:
			timeout.states = []int{schema.StatePaid, schema.StateCancelled}
		}
	}
	return timeout
}

// Run waits (up to drainTimeout) for the product to drain, resolves the unknown outcomes through
// /seckill/result, and checks every order: the figures say what was measured and what broke.
func (c *Check) Run(ctx context.Context, scenario string, drainTimeout time.Duration) (Figures, error) {
	f := Figures{Scenario: scenario, Buyers: len(c.Load.buyers)}
	f.ToConsistent, f.Drained = c.WaitDrained(ctx, drainTimeout)
	if !f.Drained {
		f.violate(NotDrained, "Redis and MySQL did not agree, or the outbox or a payment timeout was pending, %s after the load",
			drainTimeout)
	}
	s, err := c.read(ctx)
	if err != nil {
		return f, err
	}
	ev, err := c.readEvents(ctx)
	if err != nil {
		return f, err
	}

	acked := map[string]*Buyer{} // order → the buyer it was acknowledged to
	allowance := map[int64]int{} // user → kill requests whose outcome was left unknown
	owner := map[int64]*Buyer{}  // user → buyer
	for _, b := range c.Load.buyers {
		owner[b.UserID] = b
		unknown := false
		for _, a := range b.Answers {
			f.Requests++
			switch {
			case a.Reserved():
				if prev, ok := acked[a.OrderNo]; ok {
					f.Duplicated++
					f.violate(Duplicated, "%s acknowledged to user %d and again to user %d", a.OrderNo, prev.UserID, b.UserID)
				}
				acked[a.OrderNo] = b
			case a.Op == OpKill && a.Status == http.StatusServiceUnavailable && a.Unknown():
				f.Unknown++
				unknown = true
			case a.Op == OpKill && a.Dropped():
				f.Dropped++
				unknown = true
			case a.Op == OpKill:
				f.Refused++
			case a.Op == OpCancel && a.Status == http.StatusOK:
				f.Cancels++
			case a.Op == OpPay && a.Status == http.StatusOK:
				f.Pays++
			}
			if a.Op == OpKill && a.Unknown() {
				allowance[b.UserID]++
			}
		}
		if unknown {
			// A buyer left in doubt asks, as the 503 tells them to; the answer must name an order the stores hold.
			r := c.Load.Resolve(ctx, b)
			f.Requests++
			switch {
			case r.Status != http.StatusOK:
				f.violate(Disagree, "user %d: /seckill/result answered %d %s", b.UserID, r.Status, r.Message)
			case r.OrderNo != "":
				_, inRedis := s.redis[r.OrderNo]
				if _, inMySQL := s.mysql[r.OrderNo]; !inRedis && !inMySQL {
					f.violate(Disagree, "user %d: /seckill/result names %s, which neither Redis nor MySQL holds", b.UserID, r.OrderNo)
				}
				if acked[r.OrderNo] == nil {
					f.Resolved++
				}
			}
		}
	}
	f.Acknowledged = len(acked)

	all := map[string]bool{}
	for no := range acked {
		all[no] = true
	}
	for no := range s.redis {
		all[no] = true
	}
	for no := range s.mysql {
		all[no] = true
	}
	for no := range ev.reserved {
		all[no] = true
	}
	extra := map[int64]int{} // user → orders they hold that were not acknowledged to them
	liveRedis, liveMySQL := map[int64][]string{}, map[int64][]string{}
	var liveUnits int64
	for _, no := range slices.Sorted(maps.Keys(all)) {
		r, inRedis := s.redis[no]
		m, inMySQL := s.mysql[no]
		user := r.user
		if !inRedis {
			user = m.user
		}
		if b := acked[no]; b != nil {
			if msg := lostWhy(b, no, r, inRedis, m, inMySQL, ev); msg != "" {
				f.Lost++
				f.violate(Lost, "%s of user %d: %s", no, b.UserID, msg)
			}
			user = b.UserID
		} else if inRedis || inMySQL || ev.reserved[no] > 0 {
			extra[user]++
			if extra[user] > allowance[user] {
				f.Phantom++
				how := "never acknowledged"
				if b := owner[user]; b != nil {
					how = "answered " + kills(b)
				}
				f.violate(Phantom, "%s of user %d (%s): redis=%t mysql=%t events=%d", no, user, how, inRedis, inMySQL, ev.reserved[no])
			}
		}
		if inRedis && r.state != schema.StateCancelled {
			liveRedis[r.user] = append(liveRedis[r.user], no)
			liveUnits += r.qty
		}
		if inMySQL && m.state != schema.StateCancelled {
			liveMySQL[m.user] = append(liveMySQL[m.user], no)
		}
		if n := ev.reserved[no]; n > 1 {
			f.Duplicated++
			f.violate(Duplicated, "%s has %d SeckillReserved events", no, n)
		}
		switch {
		case inRedis && !inMySQL:
			f.violate(Disagree, "%s: Redis holds it (%s), MySQL does not", no, stateName(r.state))
		case inMySQL && !inRedis:
			f.violate(Disagree, "%s: MySQL holds it (%s), Redis does not", no, stateName(m.state))
		case inRedis && (r.state != m.state || r.user != m.user || r.qty != m.qty):
			f.violate(Disagree, "%s: Redis %s user %d ×%d, MySQL %s user %d ×%d", no, stateName(r.state), r.user, r.qty,
				stateName(m.state), m.user, m.qty)
		}
		if inRedis && r.state != schema.StateCancelled && s.buyers[r.user] != no {
			f.violate(Disagree, "%s is live in Redis but user %d's mark names %q", no, r.user, s.buyers[r.user])
		}
		if inMySQL {
			complete(&f, no, m, ev)
		}
	}
	for user, nos := range liveRedis {
		if len(nos) > 1 {
			f.Duplicated++
			f.violate(Duplicated, "user %d holds %d live orders in Redis: %v", user, len(nos), nos)
		}
	}
	for user, nos := range liveMySQL {
		if len(nos) > 1 && len(liveRedis[user]) <= 1 {
			f.Duplicated++
			f.violate(Duplicated, "user %d holds %d live orders in MySQL: %v", user, len(nos), nos)
		}
	}
	if liveUnits > c.Listed || s.redisStock < 0 || s.mysqlStock < 0 {
		f.violate(Oversold, "%d units live for %d listed; redis stock %d, mysql stock %d", liveUnits, c.Listed,
			s.redisStock, s.mysqlStock)
	}
	rep, err := projections.CheckInvariantsWithRedis(ctx, c.DB, c.product(), s.redisStock)
	if err != nil {
		return f, err
	}
	for _, v := range rep.Failures {
		f.violate(Invariant, "%s: %s", v.Invariant, v.Detail)
	}
	for _, v := range f.Violations {
		sort.Strings(v)
	}
	return f, nil
}

// lostWhy tells why an acknowledged order is not as its buyer left it, or "" when it is.
func lostWhy(b *Buyer, no string, r orderRow, inRedis bool, m orderRow, inMySQL bool, ev eventsOf) string {
	x := expect(b, no)
	if slices.Contains(ev.reasons[no], events.ReasonRejected) {
		return "cancelled by the system (reason rejected)"
	}
	if !inMySQL {
		return fmt.Sprintf("not in tb_seckill_order (redis=%t, SeckillReserved events=%d)", inRedis, ev.reserved[no])
	}
	if m.user != b.UserID {
		return fmt.Sprintf("tb_seckill_order says user %d", m.user)
	}
	if !slices.Contains(x.states, m.state) {
		return fmt.Sprintf("%s in MySQL, the buyer left it %s", stateName(m.state), x)
	}
	if m.state == schema.StateCancelled {
		for _, reason := range ev.reasons[no] {
			if !slices.Contains(x.reasons, reason) {
				return fmt.Sprintf("cancelled with reason %q, the buyer left it %s", reason, x)
			}
		}
	}
	return ""
}

// complete checks that an order MySQL holds has all its rows: one SeckillReserved, one deduct log, a rollback
// log iff cancelled, a buyer mark iff live.
func complete(f *Figures, no string, m orderRow, ev eventsOf) {
	cancelled := m.state == schema.StateCancelled
	rollbacks := 0
	if cancelled {
		rollbacks = 1
	}
	_, marked := ev.marks[no]
	switch {
	case ev.reserved[no] == 0:
		f.violate(Incomplete, "%s: no SeckillReserved in tb_event", no)
	case ev.deducts[no] != 1 || ev.rollback[no] != rollbacks:
		f.violate(Incomplete, "%s (%s): %d deduct and %d rollback logs", no, stateName(m.state), ev.deducts[no], ev.rollback[no])
	case marked == cancelled:
		f.violate(Incomplete, "%s (%s): buyer mark in tb_user_seckill %t", no, stateName(m.state), marked)
	case cancelled && len(ev.reasons[no]) == 0:
		f.violate(Incomplete, "%s: cancelled without a SeckillOrderCancelled event", no)
	case m.state == schema.StatePaid && ev.paid[no] == 0:
		f.violate(Incomplete, "%s: paid without a SeckillOrderPaid event", no)
	}
}

// kills summarizes a buyer's kill answers, e.g. "410,503".
func kills(b *Buyer) string {
	var out []string
	for _, a := range b.Answers {
		if a.Op == OpKill {
			if a.Status == 0 {
				out = append(out, "no answer")
			} else {
				out = append(out, strconv.Itoa(a.Status))
			}
		}
	}
	return strings.Join(out, ",")
}
