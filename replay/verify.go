package replay

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/schema"
)

// Verification compares each rebuilt projection table with the live one.
type Verification struct {
	Tables []TableCheck // in schema.Tables order
}

// TableCheck is the comparison of one table.
type TableCheck struct {
	Table   string
	Rebuilt string   // projections.Checksums of the rebuilt table
	Live    string   // projections.Checksums of the live table
	Diff    *RowDiff // the first differing row, when the checksums differ
}

// RowDiff is the first row, in natural-key order, that differs between the rebuilt and the live table.
type RowDiff struct {
	Key     string // "order_no=SK1-00000042"
	Rebuilt string // the rebuilt row as "column=value ..." (auto-increment id left out), or "" when missing
	Live    string // the live row, or "" when missing
}

// Match reports whether every table has the same checksum.
func (v Verification) Match() bool { return len(v.Differ()) == 0 }

// Differ returns the tables whose checksums differ.
func (v Verification) Differ() []TableCheck {
	var out []TableCheck
	for _, t := range v.Tables {
		if t.Rebuilt != t.Live {
			out = append(out, t)
		}
	}
	return out
}

// verify checksums the live tables of src, compares them with the rebuilt checksums and, for each table that
// differs, finds the first differing row.
func verify(ctx context.Context, src, target *sql.DB, rebuilt map[string]string) (Verification, error) {
	live, err := projections.Checksums(ctx, src)
	if err != nil {
		return Verification{}, fmt.Errorf("replay verify: %w", err)
	}
	var v Verification
	for _, table := range schema.Tables {
		tc := TableCheck{Table: table, Rebuilt: rebuilt[table], Live: live[table]}
		if tc.Rebuilt != tc.Live {
			if tc.Diff, err = firstDiff(ctx, target, src, table); err != nil {
				return v, fmt.Errorf("replay verify %s: %w", table, err)
			}
		}
		v.Tables = append(v.Tables, tc)
	}
	return v, nil
}

// firstDiff walks both tables in natural-key order (projections.NaturalKey) and returns the first row missing on one side or different.
// When every compared column agrees (the checksum covers a column firstDiff does not know of) it says so.
func firstDiff(ctx context.Context, rebuilt, live *sql.DB, table string) (*RowDiff, error) {
	cols, err := comparedColumns(ctx, rebuilt, table)
	if err != nil {
		return nil, err
	}
	keys := projections.NaturalKey(table)
	vals := make([]string, len(cols))
	for i, c := range cols {
		vals[i] = "IFNULL(" + c + ", '\\N')"
	}
	q := "SELECT " + strings.Join(keys, ", ") + ", CONCAT_WS(0x1f, " + strings.Join(vals, ", ") + ") FROM " + table +
		" ORDER BY " + strings.Join(keys, ", ")
	r, err := openCursor(ctx, rebuilt, q, len(keys))
	if err != nil {
		return nil, err
	}
	defer r.close()
	l, err := openCursor(ctx, live, q, len(keys))
	if err != nil {
		return nil, err
	}
	defer l.close()
	show := func(row []byte) string {
		parts := bytes.Split(row, []byte{0x1f})
		out := make([]string, len(parts))
		for i, p := range parts {
			out[i] = cols[i] + "=" + string(p)
		}
		return strings.Join(out, " ")
	}
	key := func(k []string) string {
		out := make([]string, len(k))
		for i := range k {
			out[i] = keys[i] + "=" + k[i]
		}
		return strings.Join(out, " ")
	}
	rok, lok := r.next(), l.next()
	for rok || lok {
		if err := errors.Join(r.err(), l.err()); err != nil {
			return nil, err
		}
		c := 0
		switch {
		case !rok:
			c = 1
		case !lok:
			c = -1
		default:
			c = compareKeys(r.key, l.key)
		}
		switch {
		case c < 0:
			return &RowDiff{Key: key(r.key), Rebuilt: show(r.row)}, nil
		case c > 0:
			return &RowDiff{Key: key(l.key), Live: show(l.row)}, nil
		case !bytes.Equal(r.row, l.row):
			return &RowDiff{Key: key(r.key), Rebuilt: show(r.row), Live: show(l.row)}, nil
		}
		rok, lok = r.next(), l.next()
	}
	if err := errors.Join(r.err(), l.err()); err != nil {
		return nil, err
	}
	return &RowDiff{Key: "(none: the rows agree on " + strings.Join(cols, ", ") + ")"}, nil
}

// comparedColumns lists the table's columns except auto-increment ones, in table order.
func comparedColumns(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND EXTRA NOT LIKE '%auto_increment%'
		ORDER BY ORDINAL_POSITION`, table)
	if err != nil {
		return nil, fmt.Errorf("list columns: %w", err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("list columns: %w", err)
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// compareKeys orders natural keys as MySQL does for these columns: integers numerically, strings bytewise
// (the tables use a binary collation).
func compareKeys(a, b []string) int {
	for i := range a {
		x, errX := strconv.ParseInt(a[i], 10, 64)
		y, errY := strconv.ParseInt(b[i], 10, 64)
		switch {
		case errX == nil && errY == nil && x != y:
			if x < y {
				return -1
			}
			return 1
		case errX != nil || errY != nil:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return 0
}

// cursor streams (key..., row) results.
type cursor struct {
	rows    *sql.Rows
	key     []string
	row     []byte
	dest    []any
	scanErr error
}

func openCursor(ctx context.Context, db *sql.DB, q string, nkeys int) (*cursor, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c := &cursor{rows: rows, key: make([]string, nkeys)}
	for i := range c.key {
		c.dest = append(c.dest, &c.key[i])
	}
	c.dest = append(c.dest, &c.row)
	return c, nil
}

func (c *cursor) next() bool {
	if !c.rows.Next() {
		return false
	}
	if err := c.rows.Scan(c.dest...); err != nil {
		c.scanErr = err
		return false
	}
	return true
}

func (c *cursor) err() error {
	if c.scanErr != nil {
		return c.scanErr
	}
	return c.rows.Err()
}

func (c *cursor) close() { _ = c.rows.Close() }
