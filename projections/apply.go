package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/schema"
)

// Stock log types of tb_stock_log.type.
const (
	StockLogDeduct   = 1
	StockLogRollback = 2
)

// SQL of the apply path. Each statement is prepared once per transaction by an Applier.
const (
	sqlInsertProduct = `INSERT INTO tb_seckill_product
		(id, product_name, price, stock, version, start_time, end_time, create_time, update_time)
		VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?)`
	sqlInsertUserSeckill = `INSERT INTO tb_user_seckill (user_id, product_id, order_no, create_time) VALUES (?, ?, ?, ?)`
	sqlDeleteUserSeckill = `DELETE FROM tb_user_seckill WHERE user_id = ? AND product_id = ? AND order_no = ?`
	sqlDeductStock       = `UPDATE tb_seckill_product
		SET stock = stock - ?, version = version + 1, update_time = GREATEST(update_time, ?)
		WHERE id = ? AND stock >= ?`
	sqlReturnStock = `UPDATE tb_seckill_product
		SET stock = stock + ?, version = version + 1, update_time = GREATEST(update_time, ?)
		WHERE id = ?`
	sqlInsertOrder = `INSERT INTO tb_seckill_order
		(order_no, user_id, product_id, product_name, price, quantity, status, create_time, update_time)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`
	sqlInsertStockLog = `INSERT INTO tb_stock_log
		(order_no, product_id, product_name, quantity, before_stock, after_stock, type, create_time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	sqlPayOrder = `UPDATE tb_seckill_order SET status = 1, update_time = GREATEST(update_time, ?)
		WHERE order_no = ? AND status = 0`
	sqlOrderStatus = `SELECT status FROM tb_seckill_order WHERE order_no = ?`
	sqlLockOrder   = `SELECT o.status, o.user_id, o.product_id, o.product_name, o.quantity, p.stock
		FROM tb_seckill_order o JOIN tb_seckill_product p ON p.id = o.product_id
		WHERE o.order_no = ? FOR UPDATE`
	sqlCancelOrder = `UPDATE tb_seckill_order SET status = -1, update_time = GREATEST(update_time, ?)
		WHERE order_no = ? AND status = 0`
	sqlProductStock = `SELECT stock FROM tb_seckill_product WHERE id = ?`
)

// mysqlDuplicateEntry is ER_DUP_ENTRY.
const mysqlDuplicateEntry = 1062

// Apply applies one event to the projection tables inside the caller's transaction. It is the single apply path
// of the live handlers and of seckill replay.
//
// Apply does not touch tb_event and does not deduplicate: applying an event twice applies it twice (Store.Record
// deduplicates through tb_event). When it returns an error wrapping ErrRejected or ErrNotYetApplied it has
// written nothing, so the transaction may go on with other events; after any other error the transaction must be
// rolled back. Events of one product must be applied in tb_event.seq order for replay to reproduce live tables.
func Apply(ctx context.Context, tx *sql.Tx, e events.Event) error {
	return NewApplier(tx).Apply(ctx, e)
}

// Applier applies events inside one transaction, preparing each statement once; batches and replay use it to save
// round trips. It is not safe for concurrent use and lives no longer than its transaction.
type Applier struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

// NewApplier returns an Applier over tx. Its prepared statements close with the transaction.
func NewApplier(tx *sql.Tx) *Applier {
	return &Applier{tx: tx, stmts: make(map[string]*sql.Stmt)}
}

// ApplyAll applies events in order, with the contract of Apply for each: errs[i] is the result of es[i], and
// after any error other than ErrRejected or ErrNotYetApplied the transaction must be rolled back (the remaining
// events are not applied). The tables end exactly as if each event had been applied by Apply in turn (same rows,
// versions, stock logs and update times), and each event gets the result Apply would have given it.
//
// A run of reservations alone is first written optimistically, one multi-row statement per table (reservedRun).
// Otherwise runs of reservations, payments and cancellations are applied in bulk: one locking read of the products, buyer
// marks and orders the run touches, each event decided in memory in order, then a few multi-row writes. That is
// what lets a batch keep up with a flash sale, and replay rebuild a history at its read speed. An event the
// in-memory model does not decide (a listing, a reservation of an order number that exists, an order whose row
// disagrees with its event) is applied alone with Apply, and a run whose writes fail is redone event by event
// from a savepoint, so the error is reported for its own event.
func (a *Applier) ApplyAll(ctx context.Context, es []events.Event) []error {
	errs := make([]error, len(es))
	fatal := func(err error) bool {
		return err != nil && !errors.Is(err, ErrRejected) && !errors.Is(err, ErrNotYetApplied)
	}
	for i := 0; i < len(es); {
		j := i
		for j < len(es) && j-i < maxBulk && bulkable(es[j]) {
			j++
		}
		if run, ok := reservations(es[i:j]); ok && len(run) >= minBulk && a.reservedRun(ctx, run) == nil {
			i = j
			continue
		}
		if j-i >= minBulk {
			n, fallback, err := a.applyBulk(ctx, es[i:j], errs[i:j])
			if err != nil {
				errs[i] = err
				return errs
			}
			if !fallback {
				if i += n; i == j {
					continue
				}
				j = i + 1 // the event that stopped the run, alone
			}
		} else if j == i {
			j = i + 1
		}
		for ; i < j; i++ {
			if errs[i] = a.Apply(ctx, es[i]); fatal(errs[i]) {
				return errs
			}
		}
	}
	return errs
}

// reservedRun applies a run of reservations optimistically, with one statement per table and no read, under a
// savepoint: if any of them would be rejected (a buyer mark exists, the stock of a product does not cover the run)
// or anything fails, it rolls back to the savepoint and returns an error; the caller then decides the run with
// applyBulk. A sale's reservations are rarely rejected, so this saves the locking read of their marks and orders.
func (a *Applier) reservedRun(ctx context.Context, run []events.SeckillReserved) error {
	if _, err := a.tx.ExecContext(ctx, `SAVEPOINT reserved_run`); err != nil {
		return err
	}
	err := a.insertReservedRun(ctx, run)
	if err != nil {
		if _, rerr := a.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT reserved_run`); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

func (a *Applier) insertReservedRun(ctx context.Context, run []events.SeckillReserved) error {
	type delta struct {
		qty, n int64
		last   time.Time
	}
	deltas := map[int64]*delta{}
	var ids []int64
	marks, orders, logs := make([]any, 0, 4*len(run)), make([]any, 0, 8*len(run)), make([]any, 0, 8*len(run))
	for _, e := range run {
		at := dbTime(e.ReservedAt)
		d, ok := deltas[e.ProductID]
		if !ok {
			d = &delta{}
			deltas[e.ProductID] = d
			ids = append(ids, e.ProductID)
		}
		d.qty += e.Quantity
		d.n++
		if at.After(d.last) {
			d.last = at
		}
		marks = append(marks, e.UserID, e.ProductID, e.OrderNo, at)
		orders = append(orders, e.OrderNo, e.UserID, e.ProductID, e.ProductName, e.Price, e.Quantity, at, at)
		logs = append(logs, e.OrderNo, e.ProductID, e.ProductName, e.Quantity, e.StockBefore, e.StockAfter,
			StockLogDeduct, at)
	}
	if _, err := a.tx.ExecContext(ctx, sqlInsertUserSeckill+rows(", (?, ?, ?, ?)", len(run)-1), marks...); err != nil {
		return err
	}
	slices.Sort(ids)
	for _, id := range ids {
		d := deltas[id]
		r, err := a.tx.ExecContext(ctx, `UPDATE tb_seckill_product
			SET stock = stock - ?, version = version + ?, update_time = GREATEST(update_time, ?)
			WHERE id = ? AND stock >= ?`, d.qty, d.n, d.last, id, d.qty)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n == 0 {
			return fmt.Errorf("stock of product %d does not cover %d: %w", id, d.qty, ErrRejected)
		}
	}
	if _, err := a.tx.ExecContext(ctx, sqlInsertOrder+rows(", (?, ?, ?, ?, ?, ?, 0, ?, ?)", len(run)-1), orders...); err != nil {
		return err
	}
	_, err := a.tx.ExecContext(ctx, sqlInsertStockLog+rows(", (?, ?, ?, ?, ?, ?, ?, ?)", len(run)-1), logs...)
	return err
}

func rows(tuple string, n int) string { return strings.Repeat(tuple, n) }

// reservations returns es as reservations, if they all are.
func reservations(es []events.Event) ([]events.SeckillReserved, bool) {
	run := make([]events.SeckillReserved, 0, len(es))
	for _, e := range es {
		r, ok := reservation(e)
		if !ok {
			return nil, false
		}
		run = append(run, r)
	}
	return run, true
}

func reservation(e events.Event) (events.SeckillReserved, bool) {
	switch v := e.(type) {
	case *events.SeckillReserved:
		return *v, true
	case events.SeckillReserved:
		return v, true
	}
	return events.SeckillReserved{}, false
}

// Apply applies one event, with the contract of the package-level Apply.
func (a *Applier) Apply(ctx context.Context, e events.Event) error {
	switch v := e.(type) {
	case *events.ProductListed:
		return a.productListed(ctx, *v)
	case events.ProductListed:
		return a.productListed(ctx, v)
	case *events.SeckillReserved:
		return a.seckillReserved(ctx, *v)
	case events.SeckillReserved:
		return a.seckillReserved(ctx, v)
	case *events.SeckillOrderPaid:
		return a.orderPaid(ctx, *v)
	case events.SeckillOrderPaid:
		return a.orderPaid(ctx, v)
	case *events.SeckillOrderCancelled:
		return a.orderCancelled(ctx, *v)
	case events.SeckillOrderCancelled:
		return a.orderCancelled(ctx, v)
	}
	return fmt.Errorf("apply event %s: %w %T", e.ID(), events.ErrUnknownType, e)
}

func (a *Applier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := a.stmts[query]; ok {
		return s, nil
	}
	s, err := a.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	a.stmts[query] = s
	return s, nil
}

func (a *Applier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	s, err := a.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	res, err := s.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (a *Applier) queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error) {
	s, err := a.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryRowContext(ctx, args...), nil
}

func (a *Applier) productListed(ctx context.Context, e events.ProductListed) error {
	at := dbTime(e.ListedAt)
	_, err := a.exec(ctx, sqlInsertProduct, e.ProductID, e.Name, e.Price, e.Stock, dbTimePtr(e.StartTime),
		dbTimePtr(e.EndTime), at, at)
	if isDuplicate(err) {
		return fmt.Errorf("list product %d: already listed: %w", e.ProductID, ErrRejected)
	}
	if err != nil {
		return fmt.Errorf("list product %d: %w", e.ProductID, err)
	}
	return nil
}

// seckillReserved orders its writes so that the two that may reject come first: the buyer mark (unique per
// buyer and product) and the guarded stock delta. A failed guard undoes the buyer mark, so a rejection leaves
// nothing behind without a savepoint round trip.
func (a *Applier) seckillReserved(ctx context.Context, e events.SeckillReserved) error {
	at := dbTime(e.ReservedAt)
	_, err := a.exec(ctx, sqlInsertUserSeckill, e.UserID, e.ProductID, e.OrderNo, at)
	if isDuplicate(err) {
		held, err := a.heldOrder(ctx, e.UserID, e.ProductID)
		if err != nil {
			return fmt.Errorf("reserve order %s: %w", e.OrderNo, err)
		}
		if supersedes(held, e.OrderNo) {
			return a.reservedSuperseded(ctx, e)
		}
		return fmt.Errorf("reserve order %s: user %d already holds a live order for product %d: %w: %w",
			e.OrderNo, e.UserID, e.ProductID, ErrConflict, ErrRejected)
	}
	if err != nil {
		return fmt.Errorf("reserve order %s: mark buyer: %w", e.OrderNo, err)
	}
	n, err := a.exec(ctx, sqlDeductStock, e.Quantity, at, e.ProductID, e.Quantity)
	if err != nil {
		return fmt.Errorf("reserve order %s: deduct stock: %w", e.OrderNo, err)
	}
	if n == 0 {
		if _, err := a.exec(ctx, sqlDeleteUserSeckill, e.UserID, e.ProductID, e.OrderNo); err != nil {
			return fmt.Errorf("reserve order %s: undo buyer mark: %w", e.OrderNo, err)
		}
		return fmt.Errorf("reserve order %s: %w: %w", e.OrderNo, a.whyNoStock(ctx, e.ProductID, e.Quantity), ErrRejected)
	}
	if _, err := a.exec(ctx, sqlInsertOrder, e.OrderNo, e.UserID, e.ProductID, e.ProductName, e.Price, e.Quantity,
		at, at); err != nil {
		return fmt.Errorf("insert order %s: %w", e.OrderNo, err)
	}
	if _, err := a.exec(ctx, sqlInsertStockLog, e.OrderNo, e.ProductID, e.ProductName, e.Quantity, e.StockBefore,
		e.StockAfter, StockLogDeduct, at); err != nil {
		return fmt.Errorf("insert stock log of order %s: %w", e.OrderNo, err)
	}
	return nil
}

// heldOrder returns the order of the buyer's mark for a product ("" if none).
func (a *Applier) heldOrder(ctx context.Context, userID, productID int64) (string, error) {
	row, err := a.queryRow(ctx, `SELECT order_no FROM tb_user_seckill WHERE user_id = ? AND product_id = ?`, userID, productID)
	if err != nil {
		return "", err
	}
	var no string
	if err := row.Scan(&no); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read buyer mark of user %d: %w", userID, err)
	}
	return no, nil
}

// supersedes tells whether order held is a later order of the same product than order no. Redis numbers a
// product's orders in the order it reserves them and lets a buyer hold one live order at a time, so a buyer whose
// mark is held by a later order had this one cancelled before: its reservation arrived after the later one, and its
// cancellation may still be on its way.
func supersedes(held, no string) bool {
	hp, hs, ok1 := splitOrderNo(held)
	np, ns, ok2 := splitOrderNo(no)
	return ok1 && ok2 && hp == np && hs > ns
}

func splitOrderNo(no string) (string, int64, bool) {
	product, seq, ok := strings.Cut(no, "-")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	return product, n, err == nil
}

// reservedSuperseded applies a reservation that a later order of the same buyer superseded (see supersedes): the
// order is recorded as cancelled, with its deduct log and a rollback log mirroring it, and the product's stock is
// unchanged (version + 2, one per log). Its SeckillOrderCancelled, when it comes, finds it cancelled: a no-op.
func (a *Applier) reservedSuperseded(ctx context.Context, e events.SeckillReserved) error {
	at := dbTime(e.ReservedAt)
	n, err := a.exec(ctx, `UPDATE tb_seckill_product SET version = version + 2, update_time = GREATEST(update_time, ?)
		WHERE id = ?`, at, e.ProductID)
	if err != nil {
		return fmt.Errorf("reserve superseded order %s: %w", e.OrderNo, err)
	}
	if n == 0 {
		return fmt.Errorf("reserve order %s: unknown product %d: %w", e.OrderNo, e.ProductID, ErrRejected)
	}
	if _, err := a.exec(ctx, `INSERT INTO tb_seckill_order
		(order_no, user_id, product_id, product_name, price, quantity, status, create_time, update_time)
		VALUES (?, ?, ?, ?, ?, ?, -1, ?, ?)`, e.OrderNo, e.UserID, e.ProductID, e.ProductName, e.Price, e.Quantity,
		at, at); err != nil {
		return fmt.Errorf("insert superseded order %s: %w", e.OrderNo, err)
	}
	for _, l := range []struct {
		before, after int64
		typ           int
	}{{e.StockBefore, e.StockAfter, StockLogDeduct}, {e.StockAfter, e.StockBefore, StockLogRollback}} {
		if _, err := a.exec(ctx, sqlInsertStockLog, e.OrderNo, e.ProductID, e.ProductName, e.Quantity, l.before,
			l.after, l.typ, at); err != nil {
			return fmt.Errorf("insert stock log of superseded order %s: %w", e.OrderNo, err)
		}
	}
	return nil
}

// whyNoStock explains a failed stock guard: the product is unknown or its stock is below the quantity.
func (a *Applier) whyNoStock(ctx context.Context, productID, quantity int64) error {
	row, err := a.queryRow(ctx, sqlProductStock, productID)
	if err != nil {
		return err
	}
	var stock int64
	switch err := row.Scan(&stock); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("unknown product %d", productID)
	case err != nil:
		return fmt.Errorf("read stock of product %d: %w", productID, err)
	}
	return fmt.Errorf("product %d has %d in stock, below quantity %d: %w", productID, stock, quantity, ErrConflict)
}

func (a *Applier) orderPaid(ctx context.Context, e events.SeckillOrderPaid) error {
	n, err := a.exec(ctx, sqlPayOrder, dbTime(e.PaidAt), e.OrderNo)
	if err != nil {
		return fmt.Errorf("pay order %s: %w", e.OrderNo, err)
	}
	if n == 1 {
		return nil
	}
	row, err := a.queryRow(ctx, sqlOrderStatus, e.OrderNo)
	if err != nil {
		return fmt.Errorf("pay order %s: %w", e.OrderNo, err)
	}
	var status int
	switch err := row.Scan(&status); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("pay order %s: no order row: %w", e.OrderNo, ErrNotYetApplied)
	case err != nil:
		return fmt.Errorf("pay order %s: read status: %w", e.OrderNo, err)
	case status == schema.StateCancelled:
		return fmt.Errorf("pay order %s: order is cancelled: %w", e.OrderNo, ErrRejected)
	}
	return nil
}

// orderCancelled locks the order and its product row first, so the rollback log's before and after stock are
// read under the same lock that the stock update takes.
func (a *Applier) orderCancelled(ctx context.Context, e events.SeckillOrderCancelled) error {
	row, err := a.queryRow(ctx, sqlLockOrder, e.OrderNo)
	if err != nil {
		return fmt.Errorf("cancel order %s: %w", e.OrderNo, err)
	}
	var (
		status                      int
		userID, productID, qty, stk int64
		name                        string
	)
	switch err := row.Scan(&status, &userID, &productID, &name, &qty, &stk); {
	case errors.Is(err, sql.ErrNoRows) && e.Reason == events.ReasonRejected:
		return nil // the reservation was rejected and never became an order
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("cancel order %s: no order row: %w", e.OrderNo, ErrNotYetApplied)
	case err != nil:
		return fmt.Errorf("cancel order %s: lock order: %w", e.OrderNo, err)
	case status == schema.StateCancelled:
		return nil
	case status == schema.StatePaid:
		return fmt.Errorf("cancel order %s: order is paid: %w", e.OrderNo, ErrRejected)
	}
	at := dbTime(e.CancelledAt)
	if _, err := a.exec(ctx, sqlCancelOrder, at, e.OrderNo); err != nil {
		return fmt.Errorf("cancel order %s: %w", e.OrderNo, err)
	}
	if _, err := a.exec(ctx, sqlReturnStock, qty, at, productID); err != nil {
		return fmt.Errorf("cancel order %s: return stock: %w", e.OrderNo, err)
	}
	if _, err := a.exec(ctx, sqlInsertStockLog, e.OrderNo, productID, name, qty, stk, stk+qty, StockLogRollback,
		at); err != nil {
		return fmt.Errorf("insert rollback log of order %s: %w", e.OrderNo, err)
	}
	if _, err := a.exec(ctx, sqlDeleteUserSeckill, userID, productID, e.OrderNo); err != nil {
		return fmt.Errorf("cancel order %s: remove buyer mark: %w", e.OrderNo, err)
	}
	return nil
}

func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == mysqlDuplicateEntry
}

// dbTime is the DATETIME(3) value of an event time: UTC, milliseconds.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func dbTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return dbTime(*t)
}
