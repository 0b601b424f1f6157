package projections

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// checksummed lists, per projection table, the columns that are a function of the events (no auto-increment id)
// and the natural key, the columns the contract makes unique, that orders the rows. It is the only list of the
// natural keys: replay's row-by-row comparison reads them through NaturalKey.
var checksummed = []struct {
	table, columns string
	key            []string
}{
	{"tb_seckill_product", "id, product_name, price, stock, version, stock_seq, legacy_stock, events_applied, start_time, end_time, create_time, update_time", []string{"id"}},
	{"tb_seckill_order", "order_no, user_id, product_id, product_name, price, quantity, status, status_seq, create_time, update_time", []string{"order_no"}},
	{"tb_stock_log", "order_no, product_id, product_name, quantity, before_stock, after_stock, type, create_time", []string{"order_no", "type"}},
	{"tb_user_seckill", "user_id, product_id, order_no, create_time, order_seq", []string{"user_id", "product_id"}},
}

// NaturalKey returns the columns that identify a row of a projection table (schema.Tables) across a live and a
// rebuilt copy, whose auto-increment ids differ; nil for any other table.
func NaturalKey(table string) []string {
	for _, t := range checksummed {
		if t.table == table {
			return slices.Clone(t.key)
		}
	}
	return nil
}

// Checksums returns the hex SHA-256 of each projection table of db (keyed by table name), hashed row by row in
// natural-key order over every column Apply writes except auto-increment ids. Tables built live and tables
// rebuilt by replay from the same tb_event have equal checksums. It reads without locking; call it on a quiet
// database.
func Checksums(ctx context.Context, db *sql.DB) (map[string]string, error) {
	out := make(map[string]string, len(checksummed))
	for _, t := range checksummed {
		cols := strings.Split(t.columns, ", ")
		for i, c := range cols {
			cols[i] = "IFNULL(" + c + ", '\\N')"
		}
		q := "SELECT CONCAT_WS(0x1f, " + strings.Join(cols, ", ") + ") FROM " + t.table + " ORDER BY " + strings.Join(t.key, ", ")
		sum, err := hashRows(ctx, db, q)
		if err != nil {
			return nil, fmt.Errorf("checksum %s: %w", t.table, err)
		}
		out[t.table] = sum
	}
	return out, nil
}

func hashRows(ctx context.Context, db *sql.DB, q string) (string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	h := sha256.New()
	var line sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		h.Write(line)
		h.Write([]byte{'\n'})
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
