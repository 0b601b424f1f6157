package projections

import (
	"context"
	"database/sql"
	"encoding/json"
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

// maxChunk bounds the events one set of multi-row statements writes: it keeps every statement under the 65,535
// placeholders of a prepared statement (an order row takes 10).
const maxChunk = 5000

// mysqlDuplicateEntry is ER_DUP_ENTRY.
const mysqlDuplicateEntry = 1062

// SQL of the engine. Every statement but the listing is an upsert whose result does not depend on the order in
// which the rows of one statement, or the statements of several transactions, are applied.
const (
	sqlInsertProduct = `INSERT INTO tb_seckill_product
		(id, product_name, price, stock, legacy_stock, version, start_time, end_time, create_time, update_time)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`
	sqlLockProducts = `SELECT id, product_name, legacy_stock FROM tb_seckill_product WHERE id IN (%s) ORDER BY id
		FOR UPDATE`
	// sqlUpsertOrders: VALUES(status) = 0 marks a reservation's row, which fills what a settlement that came
	// first may not know (first-release payloads) and the creation time; the status is the one of the highest seq,
	// and an event without seq settles only an order still awaiting payment.
	sqlUpsertOrders = `INSERT INTO tb_seckill_order
		(order_no, user_id, product_id, product_name, price, quantity, status, status_seq, create_time, update_time)
		VALUES %s
		ON DUPLICATE KEY UPDATE
		product_name = IF(VALUES(status) = 0, VALUES(product_name), product_name),
		price = IF(VALUES(status) = 0, VALUES(price), price),
		quantity = IF(VALUES(status) = 0, VALUES(quantity), quantity),
		create_time = IF(VALUES(status) = 0, VALUES(create_time), create_time),
		status = IF(VALUES(status_seq) > status_seq
			OR (VALUES(status_seq) = 0 AND VALUES(status) <> 0 AND status = 0), VALUES(status), status),
		status_seq = GREATEST(status_seq, VALUES(status_seq)),
		update_time = GREATEST(update_time, VALUES(update_time))`
	// sqlUpdateProduct: MySQL evaluates a single-table SET left to right, so stock sees the new legacy_stock and
	// the old stock_seq.
	sqlUpdateProduct = `UPDATE tb_seckill_product SET
		legacy_stock = legacy_stock + ?,
		stock = IF(? > stock_seq, ?, IF(stock_seq = 0, GREATEST(legacy_stock, 0), stock)),
		stock_seq = GREATEST(stock_seq, ?),
		version = version + ?,
		events_applied = events_applied + ?,
		update_time = GREATEST(update_time, IFNULL(?, update_time))
		WHERE id = ?`
	sqlInsertStockLogs = `INSERT IGNORE INTO tb_stock_log
		(order_no, product_id, product_name, quantity, before_stock, after_stock, type, create_time) VALUES %s`
	// sqlUpsertMarks: the JSON holds one [user, product, order_no, time, order_seq] per reservation. A cancelled
	// order gets no mark; a mark moves only to a later order of the buyer.
	sqlUpsertMarks = `INSERT INTO tb_user_seckill (user_id, product_id, order_no, create_time, order_seq)
		SELECT j.user_id, j.product_id, j.order_no, j.at, j.order_seq FROM JSON_TABLE(?, '$[*]' COLUMNS(
			user_id BIGINT PATH '$[0]',
			product_id BIGINT PATH '$[1]',
			order_no VARCHAR(32) COLLATE utf8mb4_bin PATH '$[2]',
			at DATETIME(3) PATH '$[3]',
			order_seq BIGINT PATH '$[4]')) j
		JOIN tb_seckill_order o ON o.order_no = j.order_no AND o.status <> -1
		ON DUPLICATE KEY UPDATE
		tb_user_seckill.order_no = IF(VALUES(order_seq) > tb_user_seckill.order_seq, VALUES(order_no),
			tb_user_seckill.order_no),
		tb_user_seckill.create_time = IF(VALUES(order_seq) > tb_user_seckill.order_seq, VALUES(create_time),
			tb_user_seckill.create_time),
		tb_user_seckill.order_seq = GREATEST(tb_user_seckill.order_seq, VALUES(order_seq))`
	sqlDeleteMarks = `DELETE FROM tb_user_seckill WHERE (user_id, product_id, order_no) IN (%s)`
)

// Apply applies events to the projection tables inside the caller's transaction and returns each event's outcome:
// Applied, or Rejected for an event MySQL cannot hold (a reservation, payment or cancellation of a product it has
// no row of, a listing of a product it already lists), which changes nothing. It is the one engine of the live
// Store, the Batcher and seckill replay.
//
// Apply does not touch tb_event and does not deduplicate: applying an event twice applies it twice (Store
// deduplicates through tb_event). The result does not depend on the order of es nor on how events are split
// between calls and transactions (see the package doc), except for the rollback logs of first-release
// cancellations. After an error the transaction must be rolled back. Concurrent calls on different transactions
// are safe: they serialize on the product rows, which Apply locks in id order.
func Apply(ctx context.Context, tx *sql.Tx, es []events.Event) ([]Outcome, error) {
	out := make([]Outcome, len(es))
	for i, e := range es {
		out[i] = Applied
		if l, ok := e.(*events.ProductListed); ok {
			listed, err := insertListing(ctx, tx, l)
			if err != nil {
				return nil, err
			}
			if !listed {
				out[i] = Rejected
			}
		}
	}
	for start := 0; start < len(es); start += maxChunk {
		end := min(start+maxChunk, len(es))
		if err := applyChunk(ctx, tx, es[start:end], out[start:end]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// insertListing creates the product row; false means the product is already listed.
func insertListing(ctx context.Context, tx *sql.Tx, e *events.ProductListed) (bool, error) {
	at := dbTime(e.ListedAt)
	_, err := tx.ExecContext(ctx, sqlInsertProduct, e.ProductID, e.Name, e.Price, e.Stock, e.Stock,
		dbTimePtr(e.StartTime), dbTimePtr(e.EndTime), at, at)
	if isDuplicate(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("list product %d: %w", e.ProductID, err)
	}
	return true, nil
}

// product is what one chunk changes in a product row.
type product struct {
	name         string
	legacyStock  int64 // as read, plus the legacy deltas of the chunk so far
	legacyDelta  int64
	maxSeq       int64 // highest seq of a stock change
	stockAfter   int64 // its stock after
	changes      int64 // stock changes (reservations and cancellations)
	sequenced    int64 // events with a seq
	lastChangeAt *time.Time
}

func (p *product) stockChange(seq, after int64, at time.Time) {
	p.changes++
	if seq > p.maxSeq {
		p.maxSeq, p.stockAfter = seq, after
	}
	if p.lastChangeAt == nil || at.After(*p.lastChangeAt) {
		p.lastChangeAt = &at
	}
}

// writes are the rows of one chunk's multi-row statements.
type writes struct {
	orders, logs, gone []any
	norders, nlogs     int
	ngone              int
	marks              [][5]any
}

func (w *writes) order(no string, user, productID int64, name string, price events.Money, qty int64, status int,
	seq int64, at time.Time) {
	w.orders = append(w.orders, no, user, productID, name, price, qty, status, seq, at, at)
	w.norders++
}

func (w *writes) log(no string, productID int64, name string, qty, before, after int64, typ int, at time.Time) {
	w.logs = append(w.logs, no, productID, name, qty, before, after, typ, at)
	w.nlogs++
}

func applyChunk(ctx context.Context, tx *sql.Tx, es []events.Event, out []Outcome) error {
	products, err := lockProductRows(ctx, tx, es)
	if err != nil {
		return err
	}
	var w writes
	for i, e := range es {
		switch v := e.(type) {
		case *events.SeckillReserved:
			p := products[v.ProductID]
			if p == nil {
				out[i] = Rejected
				continue
			}
			at := dbTime(v.ReservedAt)
			w.order(v.OrderNo, v.UserID, v.ProductID, v.ProductName, v.Price, v.Quantity, schema.StateAwaitingPayment,
				v.Seq, at)
			w.log(v.OrderNo, v.ProductID, v.ProductName, v.Quantity, v.StockBefore, v.StockAfter, StockLogDeduct, at)
			w.marks = append(w.marks, [5]any{v.UserID, v.ProductID, v.OrderNo, at.Format(jsonTime), orderSeq(v.OrderNo)})
			p.stockChange(v.Seq, v.StockAfter, at)
			if v.Seq == 0 {
				p.legacyDelta -= v.Quantity
				p.legacyStock -= v.Quantity
			} else {
				p.sequenced++
			}
		case *events.SeckillOrderPaid:
			p := products[v.ProductID]
			if p == nil {
				out[i] = Rejected
				continue
			}
			w.order(v.OrderNo, v.UserID, v.ProductID, v.ProductName, v.Price, v.Quantity, schema.StatePaid, v.Seq,
				dbTime(v.PaidAt))
			if v.Seq > 0 {
				p.sequenced++
			}
		case *events.SeckillOrderCancelled:
			p := products[v.ProductID]
			if p == nil {
				out[i] = Rejected
				continue
			}
			at := dbTime(v.CancelledAt)
			w.order(v.OrderNo, v.UserID, v.ProductID, v.ProductName, v.Price, v.Quantity, schema.StateCancelled,
				v.Seq, at)
			before, after := v.StockBefore, v.StockAfter
			if v.Seq == 0 {
				// First release: no Redis stock in the event; the rollback log says what the legacy count did.
				before, after = p.legacyStock, p.legacyStock+v.Quantity
				p.legacyDelta += v.Quantity
				p.legacyStock += v.Quantity
			} else {
				p.sequenced++
			}
			w.log(v.OrderNo, v.ProductID, p.name, v.Quantity, before, after, StockLogRollback, at)
			w.gone = append(w.gone, v.UserID, v.ProductID, v.OrderNo)
			w.ngone++
			p.stockChange(v.Seq, v.StockAfter, at)
		case *events.ProductListed:
		default:
			return fmt.Errorf("apply event %s: %w %T", e.ID(), events.ErrUnknownType, e)
		}
	}
	return w.write(ctx, tx, products)
}

// lockProductRows locks, in id order, the product rows the events of a chunk change, and reads what the chunk
// needs of them. A product without a row is absent from the map.
func lockProductRows(ctx context.Context, tx *sql.Tx, es []events.Event) (map[int64]*product, error) {
	ids := productIDs(es)
	products := make(map[int64]*product, len(ids))
	if len(ids) == 0 {
		return products, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(sqlLockProducts, placeholders("?", len(ids))), args...)
	if err != nil {
		return nil, fmt.Errorf("lock products %v: %w", ids, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		p := &product{}
		if err := rows.Scan(&id, &p.name, &p.legacyStock); err != nil {
			return nil, fmt.Errorf("lock products %v: %w", ids, err)
		}
		products[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock products %v: %w", ids, err)
	}
	return products, nil
}

// productIDs returns the sorted ids of the products whose rows the reservations, payments and cancellations of
// es change.
func productIDs(es []events.Event) []int64 {
	var ids []int64
	for _, e := range es {
		if id, ok := orderProduct(e); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func orderProduct(e events.Event) (int64, bool) {
	switch v := e.(type) {
	case *events.SeckillReserved:
		return v.ProductID, true
	case *events.SeckillOrderPaid:
		return v.ProductID, true
	case *events.SeckillOrderCancelled:
		return v.ProductID, true
	}
	return 0, false
}

const jsonTime = "2006-01-02 15:04:05.000"

// write runs the chunk's statements: orders first (the marks read their status), then products, stock logs,
// buyer marks set by reservations and, last, the marks of cancelled orders removed.
func (w *writes) write(ctx context.Context, tx *sql.Tx, products map[int64]*product) error {
	if w.norders > 0 {
		q := fmt.Sprintf(sqlUpsertOrders, placeholders("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", w.norders))
		if _, err := tx.ExecContext(ctx, q, w.orders...); err != nil {
			return fmt.Errorf("upsert %d orders: %w", w.norders, err)
		}
	}
	ids := make([]int64, 0, len(products))
	for id := range products {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := products[id]
		if p.changes == 0 && p.sequenced == 0 {
			continue
		}
		var at any
		if p.lastChangeAt != nil {
			at = *p.lastChangeAt
		}
		if _, err := tx.ExecContext(ctx, sqlUpdateProduct, p.legacyDelta, p.maxSeq, p.stockAfter, p.maxSeq,
			p.changes, p.sequenced, at, id); err != nil {
			return fmt.Errorf("update product %d: %w", id, err)
		}
	}
	if w.nlogs > 0 {
		q := fmt.Sprintf(sqlInsertStockLogs, placeholders("(?, ?, ?, ?, ?, ?, ?, ?)", w.nlogs))
		if _, err := tx.ExecContext(ctx, q, w.logs...); err != nil {
			return fmt.Errorf("insert %d stock logs: %w", w.nlogs, err)
		}
	}
	if len(w.marks) > 0 {
		js, err := json.Marshal(w.marks)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlUpsertMarks, js); err != nil {
			return fmt.Errorf("upsert %d buyer marks: %w", len(w.marks), err)
		}
	}
	if w.ngone > 0 {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(sqlDeleteMarks, placeholders("(?, ?, ?)", w.ngone)),
			w.gone...); err != nil {
			return fmt.Errorf("remove %d buyer marks: %w", w.ngone, err)
		}
	}
	return nil
}

// orderSeq is the counter part of an order number "SK<product>-<n>" (0 if it has none): Redis numbers a
// product's orders in the order it reserves them.
func orderSeq(no string) int64 {
	_, n, ok := strings.Cut(no, "-")
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func placeholders(tuple string, n int) string {
	return tuple + strings.Repeat(", "+tuple, n-1)
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
