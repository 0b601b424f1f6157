package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

// Bounds of one bulk segment. maxBulk keeps every multi-row statement under the 65,535 placeholders of a prepared
// statement (tb_seckill_order takes 9 per row); shorter segments are cheaper event by event.
const (
	maxBulk = 5000
	minBulk = 3
)

// The locking read of a segment: the products, buyer marks and orders its events may touch, in one round trip.
// Products come first and in id order, as Store.lockProducts takes them.
const (
	sqlBulkReadProducts = `(SELECT 'p', id, 0, '', '', 0, stock FROM tb_seckill_product WHERE id IN (%s) FOR UPDATE)`
	sqlBulkReadMarks    = `(SELECT 'm', user_id, product_id, order_no, '', 0, 0 FROM tb_user_seckill
		WHERE (user_id, product_id) IN (%s) FOR UPDATE)`
	sqlBulkReadOrders = `(SELECT 'o', user_id, product_id, order_no, product_name, quantity, status FROM tb_seckill_order
		WHERE order_no IN (%s) FOR UPDATE)`
	// sqlBulkSettle sets the status of orders that existed before the segment; the JSON holds one
	// [order_no, status, update time] per order.
	sqlBulkSettle = `UPDATE tb_seckill_order o JOIN JSON_TABLE(?, '$[*]' COLUMNS(
			order_no VARCHAR(32) COLLATE utf8mb4_bin PATH '$[0]',
			status INT PATH '$[1]',
			at DATETIME(3) PATH '$[2]')) s ON o.order_no = s.order_no
		SET o.status = s.status, o.update_time = GREATEST(o.update_time, s.at)`
	sqlBulkDeleteMarks = `DELETE FROM tb_user_seckill WHERE (user_id, product_id, order_no) IN (%s)`
	sqlInsertOrders    = `INSERT INTO tb_seckill_order
		(order_no, user_id, product_id, product_name, price, quantity, status, create_time, update_time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// errUnmodeled stops a segment at an event whose outcome the in-memory model does not decide (a reservation of
// an order number that exists, an order whose product row or buyer is not the event's); Apply decides it.
var errUnmodeled = errors.New("outcome not modeled in bulk")

type bulkProduct struct {
	stock, delta, changes int64
	last                  time.Time
}

type bulkOrder struct {
	no, name      string
	user, product int64
	qty           int64
	status        int
	created       bool // inserted by this segment (else it exists and is updated)
	changed       bool
	last          time.Time               // latest time of an event that changed the row
	res           *events.SeckillReserved // the reservation that creates the row
}

// bulk is the in-memory model of the rows one segment touches, read under lock, and the writes it decides.
type bulk struct {
	products map[int64]*bulkProduct
	orders   map[string]*bulkOrder
	marks    map[buyer]string // order number of the buyer's mark, "" for none
	initial  map[buyer]string // the marks as read
	markAt   map[buyer]time.Time
	markSeq  []buyer // buyers in the order their marks were inserted
	created  []*bulkOrder
	settled  []*bulkOrder
	logs     []any
	nlogs    int
}

// buyer is a (user, product) pair: the projection accepts one live order per buyer.
type buyer struct{ user, product int64 }

// bulkable tells whether the bulk path models events of e's type.
func bulkable(e events.Event) bool {
	switch e.(type) {
	case *events.SeckillReserved, events.SeckillReserved, *events.SeckillOrderPaid, events.SeckillOrderPaid,
		*events.SeckillOrderCancelled, events.SeckillOrderCancelled:
		return true
	}
	return false
}

func payment(e events.Event) (events.SeckillOrderPaid, bool) {
	switch v := e.(type) {
	case *events.SeckillOrderPaid:
		return *v, true
	case events.SeckillOrderPaid:
		return v, true
	}
	return events.SeckillOrderPaid{}, false
}

func cancellation(e events.Event) (events.SeckillOrderCancelled, bool) {
	switch v := e.(type) {
	case *events.SeckillOrderCancelled:
		return *v, true
	case events.SeckillOrderCancelled:
		return v, true
	}
	return events.SeckillOrderCancelled{}, false
}

// applyBulk applies a prefix of es (reservations, payments and cancellations only) with one locking read and a
// few multi-row writes, deciding each event's outcome in memory in order, exactly as Apply would one by one. It
// returns how many events it decided, with their results in errs; it stops before an event it does not model
// (n < len(es)), which the caller applies alone. If a write fails it rolls back to its savepoint and returns
// n = 0 and fallback = true: the caller then applies the events one by one, which attributes the error to its
// event. err is an error that leaves the transaction unusable.
func (a *Applier) applyBulk(ctx context.Context, es []events.Event, errs []error) (n int, fallback bool, err error) {
	b, err := a.readBulk(ctx, es)
	if err != nil {
		return 0, false, err
	}
	for n < len(es) {
		e := es[n]
		var err error
		if r, ok := reservation(e); ok {
			err = b.reserve(r)
		} else if p, ok := payment(e); ok {
			err = b.pay(p)
		} else if c, ok := cancellation(e); ok {
			err = b.cancel(c)
		}
		if errors.Is(err, errUnmodeled) {
			break
		}
		errs[n] = err
		n++
	}
	if b.empty() {
		return n, false, nil
	}
	if _, err := a.tx.ExecContext(ctx, `SAVEPOINT bulk_apply`); err != nil {
		return 0, false, err
	}
	if werr := a.writeBulk(ctx, b); werr != nil {
		if _, err := a.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT bulk_apply`); err != nil {
			return 0, false, errors.Join(werr, err)
		}
		clear(errs)
		return 0, true, nil
	}
	return n, false, nil
}

// readBulk locks and reads the products, buyer marks and orders that es may touch. The buyers and products of
// payments and cancellations are taken from the events; an order whose row says otherwise is not modeled.
func (a *Applier) readBulk(ctx context.Context, es []events.Event) (*bulk, error) {
	var (
		ids    []int64
		buyers []buyer
		orders []string
	)
	seenBuyer := map[buyer]bool{}
	addBuyer := func(k buyer) {
		if !seenBuyer[k] {
			seenBuyer[k] = true
			buyers = append(buyers, k)
		}
	}
	for _, e := range es {
		if r, ok := reservation(e); ok {
			ids = append(ids, r.ProductID)
			addBuyer(buyer{r.UserID, r.ProductID})
			orders = append(orders, r.OrderNo)
		} else if p, ok := payment(e); ok {
			orders = append(orders, p.OrderNo)
		} else if c, ok := cancellation(e); ok {
			ids = append(ids, c.ProductID)
			addBuyer(buyer{c.UserID, c.ProductID})
			orders = append(orders, c.OrderNo)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	slices.Sort(orders)
	orders = slices.Compact(orders)

	var q strings.Builder
	args := make([]any, 0, len(ids)+2*len(buyers)+len(orders))
	union := func(part string, n int, tuple string) {
		if n == 0 {
			return
		}
		if q.Len() > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString(fmt.Sprintf(part, tuple+strings.Repeat(", "+tuple, n-1)))
	}
	union(sqlBulkReadProducts, len(ids), "?")
	for _, id := range ids {
		args = append(args, id)
	}
	union(sqlBulkReadMarks, len(buyers), "(?, ?)")
	for _, k := range buyers {
		args = append(args, k.user, k.product)
	}
	union(sqlBulkReadOrders, len(orders), "?")
	for _, no := range orders {
		args = append(args, no)
	}
	b := &bulk{products: map[int64]*bulkProduct{}, orders: map[string]*bulkOrder{}, marks: map[buyer]string{},
		initial: map[buyer]string{}, markAt: map[buyer]time.Time{}}
	for _, k := range buyers {
		b.marks[k] = ""
	}
	rows, err := a.tx.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("lock rows of %d events: %w", len(es), err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, no, name string
			x, y, qty      int64
			z              int64
		)
		if err := rows.Scan(&kind, &x, &y, &no, &name, &qty, &z); err != nil {
			return nil, fmt.Errorf("lock rows of %d events: %w", len(es), err)
		}
		switch kind {
		case "p":
			b.products[x] = &bulkProduct{stock: z}
		case "m":
			b.marks[buyer{x, y}] = no
		case "o":
			b.orders[no] = &bulkOrder{no: no, user: x, product: y, name: name, qty: qty, status: int(z)}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock rows of %d events: %w", len(es), err)
	}
	for k, no := range b.marks {
		b.initial[k] = no
	}
	return b, nil
}

func (b *bulk) empty() bool { return len(b.created) == 0 && len(b.settled) == 0 }

// reserve decides a reservation as Applier.seckillReserved does: the buyer mark first, then the stock guard.
func (b *bulk) reserve(e events.SeckillReserved) error {
	k := buyer{e.UserID, e.ProductID}
	if _, ok := b.orders[e.OrderNo]; ok {
		return errUnmodeled // inserting the order fails: Apply reports it
	}
	if held := b.marks[k]; held != "" {
		if supersedes(held, e.OrderNo) {
			return errUnmodeled // Apply records it as superseded
		}
		return fmt.Errorf("reserve order %s: user %d already holds a live order for product %d: %w: %w",
			e.OrderNo, e.UserID, e.ProductID, ErrConflict, ErrRejected)
	}
	p := b.products[e.ProductID]
	if p == nil {
		return fmt.Errorf("reserve order %s: %w: %w", e.OrderNo, fmt.Errorf("unknown product %d", e.ProductID),
			ErrRejected)
	}
	if p.stock < e.Quantity {
		return fmt.Errorf("reserve order %s: %w: %w", e.OrderNo, fmt.Errorf(
			"product %d has %d in stock, below quantity %d: %w", e.ProductID, p.stock, e.Quantity, ErrConflict),
			ErrRejected)
	}
	at := dbTime(e.ReservedAt)
	b.marks[k] = e.OrderNo
	b.markAt[k] = at
	b.markSeq = append(b.markSeq, k)
	p.stock -= e.Quantity
	p.delta -= e.Quantity
	p.change(at)
	o := &bulkOrder{no: e.OrderNo, user: e.UserID, product: e.ProductID, name: e.ProductName, qty: e.Quantity,
		created: true, last: at, res: &e}
	b.orders[e.OrderNo] = o
	b.created = append(b.created, o)
	b.log(e.OrderNo, e.ProductID, e.ProductName, e.Quantity, e.StockBefore, e.StockAfter, StockLogDeduct, at)
	return nil
}

// pay decides a payment as Applier.orderPaid does.
func (b *bulk) pay(e events.SeckillOrderPaid) error {
	o := b.orders[e.OrderNo]
	switch {
	case o == nil:
		return fmt.Errorf("pay order %s: no order row: %w", e.OrderNo, ErrNotYetApplied)
	case o.status == schema.StateCancelled:
		return fmt.Errorf("pay order %s: order is cancelled: %w", e.OrderNo, ErrRejected)
	case o.status != schema.StateAwaitingPayment:
		return nil
	}
	b.settle(o, schema.StatePaid, dbTime(e.PaidAt))
	return nil
}

// cancel decides a cancellation as Applier.orderCancelled does: the rollback log's before stock is the product's
// stock at this point of the segment.
func (b *bulk) cancel(e events.SeckillOrderCancelled) error {
	o := b.orders[e.OrderNo]
	if o == nil {
		if e.Reason == events.ReasonRejected {
			return nil
		}
		return fmt.Errorf("cancel order %s: no order row: %w", e.OrderNo, ErrNotYetApplied)
	}
	p := b.products[o.product]
	k := buyer{o.user, o.product}
	if _, read := b.marks[k]; !read || p == nil {
		return errUnmodeled // the order's buyer or product is not the event's, or the product row is gone
	}
	switch o.status {
	case schema.StateCancelled:
		return nil
	case schema.StatePaid:
		return fmt.Errorf("cancel order %s: order is paid: %w", e.OrderNo, ErrRejected)
	}
	at := dbTime(e.CancelledAt)
	b.settle(o, schema.StateCancelled, at)
	b.log(o.no, o.product, o.name, o.qty, p.stock, p.stock+o.qty, StockLogRollback, at)
	p.stock += o.qty
	p.delta += o.qty
	p.change(at)
	if b.marks[k] == o.no {
		b.marks[k] = ""
	}
	return nil
}

func (p *bulkProduct) change(at time.Time) {
	p.changes++
	if at.After(p.last) {
		p.last = at
	}
}

func (b *bulk) settle(o *bulkOrder, status int, at time.Time) {
	o.status = status
	if at.After(o.last) {
		o.last = at
	}
	if !o.created && !o.changed {
		b.settled = append(b.settled, o)
	}
	o.changed = true
}

func (b *bulk) log(no string, product int64, name string, qty, before, after int64, typ int, at time.Time) {
	b.logs = append(b.logs, no, product, name, qty, before, after, typ, at)
	b.nlogs++
}

// writeBulk writes what the segment decided: buyer marks removed, then added, new orders with their final
// status, status changes of existing orders, one stock delta per product, and the stock logs.
func (a *Applier) writeBulk(ctx context.Context, b *bulk) error {
	var gone, added []any
	ngone, nadded := 0, 0
	for k, no := range b.initial {
		if no != "" && b.marks[k] != no {
			gone = append(gone, k.user, k.product, no)
			ngone++
		}
	}
	for _, k := range b.markSeq {
		if no := b.marks[k]; no != "" && no != b.initial[k] && b.markAt[k] != (time.Time{}) {
			added = append(added, k.user, k.product, no, b.markAt[k])
			b.markAt[k] = time.Time{} // the mark's last reservation is the one left: write it once
			nadded++
		}
	}
	if ngone > 0 {
		r, err := a.tx.ExecContext(ctx, fmt.Sprintf(sqlBulkDeleteMarks, "(?, ?, ?)"+rows(", (?, ?, ?)", ngone-1)),
			gone...)
		if err != nil {
			return fmt.Errorf("remove %d buyer marks: %w", ngone, err)
		}
		if n, err := r.RowsAffected(); err != nil || n != int64(ngone) {
			return fmt.Errorf("remove %d buyer marks: %d removed (%v)", ngone, n, err)
		}
	}
	if nadded > 0 {
		if _, err := a.tx.ExecContext(ctx, sqlInsertUserSeckill+rows(", (?, ?, ?, ?)", nadded-1), added...); err != nil {
			return fmt.Errorf("insert %d buyer marks: %w", nadded, err)
		}
	}
	if len(b.created) > 0 {
		args := make([]any, 0, 9*len(b.created))
		for _, o := range b.created {
			e := o.res
			args = append(args, e.OrderNo, e.UserID, e.ProductID, e.ProductName, e.Price, e.Quantity, o.status,
				dbTime(e.ReservedAt), o.last)
		}
		if _, err := a.tx.ExecContext(ctx, sqlInsertOrders+rows(", (?, ?, ?, ?, ?, ?, ?, ?, ?)", len(b.created)-1),
			args...); err != nil {
			return fmt.Errorf("insert %d orders: %w", len(b.created), err)
		}
	}
	if len(b.settled) > 0 {
		rows := make([][3]any, len(b.settled))
		for i, o := range b.settled {
			rows[i] = [3]any{o.no, o.status, o.last.Format("2006-01-02 15:04:05.000")}
		}
		js, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		r, err := a.tx.ExecContext(ctx, sqlBulkSettle, js)
		if err != nil {
			return fmt.Errorf("settle %d orders: %w", len(b.settled), err)
		}
		if n, err := r.RowsAffected(); err != nil || n != int64(len(b.settled)) {
			return fmt.Errorf("settle %d orders: %d changed (%v)", len(b.settled), n, err)
		}
	}
	if err := a.writeStock(ctx, b); err != nil {
		return err
	}
	if b.nlogs > 0 {
		if _, err := a.tx.ExecContext(ctx, sqlInsertStockLog+rows(", (?, ?, ?, ?, ?, ?, ?, ?)", b.nlogs-1),
			b.logs...); err != nil {
			return fmt.Errorf("insert %d stock logs: %w", b.nlogs, err)
		}
	}
	return nil
}

// writeStock applies each product's net stock change, its number of changes and its latest change time in one
// UPDATE.
func (a *Applier) writeStock(ctx context.Context, b *bulk) error {
	var ids []int64
	for id, p := range b.products {
		if p.changes > 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	var stock, version, at strings.Builder
	args := make([]any, 0, 7*len(ids))
	for _, id := range ids {
		stock.WriteString(" WHEN ? THEN ?")
		args = append(args, id, b.products[id].delta)
	}
	for _, id := range ids {
		version.WriteString(" WHEN ? THEN ?")
		args = append(args, id, b.products[id].changes)
	}
	for _, id := range ids {
		at.WriteString(" WHEN ? THEN ?")
		args = append(args, id, b.products[id].last)
	}
	for _, id := range ids {
		args = append(args, id)
	}
	q := `UPDATE tb_seckill_product SET stock = stock + CASE id` + stock.String() + ` END,
		version = version + CASE id` + version.String() + ` END,
		update_time = GREATEST(update_time, CASE id` + at.String() + ` END)
		WHERE id IN (?` + rows(", ?", len(ids)-1) + `)`
	r, err := a.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("change stock of products %v: %w", ids, err)
	}
	if n, err := r.RowsAffected(); err != nil || n != int64(len(ids)) {
		return fmt.Errorf("change stock of products %v: %d changed (%v)", ids, n, err)
	}
	return nil
}
