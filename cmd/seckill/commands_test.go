package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// emptyDatabase creates a database with no table at all (schematest.MySQL migrates its own) and drops it, and any
// database named with the returned prefix by the test, when the test ends. It returns the database's DSN and name.
func emptyDatabase(t *testing.T) (string, string) {
	t.Helper()
	cfg, err := mysql.ParseDSN(schematest.DSN())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		schematest.Unavailable(t, "MySQL", err)
	}
	name := "seckill_test_" + schematest.RandomSuffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, db := range []string{name, name + "_replay"} {
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + db)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN(), name
}

// command runs one seckill command as main does and returns its stdout, its stderr and its error (main exits
// non-zero on any error).
func command(t *testing.T, dsn string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, envOf(map[string]string{"SECKILL_MYSQL_DSN": dsn}), &out, &errOut)
	return out.String(), errOut.String(), err
}

// schemaOf describes every table and column of a database, and the migrations it recorded.
func schemaOf(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var b strings.Builder
	rows, err := db.Query(`SELECT table_name, column_name, column_type, is_nullable, COALESCE(column_default, '')
		FROM information_schema.columns WHERE table_schema = ? ORDER BY table_name, ordinal_position`, name)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var cols [5]string
		if err := rows.Scan(&cols[0], &cols[1], &cols[2], &cols[3], &cols[4]); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, strings.Join(cols[:], " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var versions string
	if err := db.QueryRow(`SELECT GROUP_CONCAT(version ORDER BY version) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(&b, "migrations", versions)
	return b.String()
}

// TestMigrateCommandTwiceIsIdempotent: `seckill migrate` on an empty database creates every table of the contract;
// run again it succeeds, applies nothing twice and keeps the rows the first run's schema holds.
func TestMigrateCommandTwiceIsIdempotent(t *testing.T) {
	dsn, name := emptyDatabase(t)
	out, _, err := command(t, dsn, "migrate")
	if err != nil || !strings.Contains(out, "schema up to date") {
		t.Fatalf("first migrate: %v, output %q", err, out)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first := schemaOf(t, db, name)
	for _, table := range append([]string{"tb_event", "schema_migrations"}, schema.Tables...) {
		if !strings.Contains(first, table+" ") {
			t.Fatalf("migrate created no table %s:\n%s", table, first)
		}
	}
	if _, err := db.Exec(`INSERT INTO tb_seckill_product (id, product_name, price, stock, create_time, update_time)
		VALUES (1, 'kept', 1.00, 3, NOW(3), NOW(3))`); err != nil {
		t.Fatal(err)
	}
	out, _, err = command(t, dsn, "migrate")
	if err != nil || !strings.Contains(out, "schema up to date") {
		t.Fatalf("second migrate: %v, output %q", err, out)
	}
	if second := schemaOf(t, db, name); second != first {
		t.Fatalf("second migrate changed the schema:\n%s\nthen\n%s", first, second)
	}
	var stock int
	if err := db.QueryRow(`SELECT stock FROM tb_seckill_product WHERE id = 1`).Scan(&stock); err != nil || stock != 3 {
		t.Fatalf("row after the second migrate: stock %d (%v), want 3", stock, err)
	}
}

var (
	replayedLine = regexp.MustCompile(`(?m)^replayed (\d+) events \(seq 1\.\.(\d+)\) of \S+ into (\S+) in `)
	checksumRow  = regexp.MustCompile(`(?m)^checksum (.+)$`)
	liveRow      = regexp.MustCompile(`(?m)^live     (.+)$`)
)

// TestReplayCommandRebuildsAndVerifies runs `seckill replay` as an operator would: a generated history in tb_event,
// rebuilt in place, then into a new database with --verify (the summary, the checksums of every table, equal to
// the live ones, exit status 0); then a row of the live tables is tampered with and --verify fails naming it.
func TestReplayCommandRebuildsAndVerifies(t *testing.T) {
	dsn, name := emptyDatabase(t)
	const events = 3000
	out, _, err := command(t, dsn, "replay", "--generate", fmt.Sprint(events), "--products", "3", "--seed", "7")
	if err != nil || !strings.Contains(out, fmt.Sprintf("generated %d events", events)) {
		t.Fatalf("generate: %v, output %q", err, out)
	}
	out, _, err = command(t, dsn, "replay", "--in-place")
	if err != nil || !strings.Contains(out, "in place") {
		t.Fatalf("replay --in-place: %v, output %q", err, out)
	}

	into := name + "_replay"
	out, _, err = command(t, dsn, "replay", "--into", into, "--verify")
	if err != nil {
		t.Fatalf("replay --verify of an untouched database: %v\n%s", err, out)
	}
	m := replayedLine.FindStringSubmatch(out)
	if m == nil || m[1] != fmt.Sprint(events) || m[2] != fmt.Sprint(events) || m[3] != into {
		t.Fatalf("no summary of %d events into %s:\n%s", events, into, out)
	}
	sums, live := checksumRow.FindStringSubmatch(out), liveRow.FindStringSubmatch(out)
	if sums == nil || live == nil || sums[1] != live[1] || !strings.Contains(out, "verify: the rebuilt tables equal the live ones") {
		t.Fatalf("checksums of the rebuilt and live tables differ or are missing:\n%s", out)
	}
	for _, table := range schema.Tables {
		if !regexp.MustCompile(table + `=\S+`).MatchString(sums[1]) {
			t.Fatalf("checksum line names no %s: %s", table, sums[1])
		}
	}

	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var orderNo string
	if err := db.QueryRow(`SELECT order_no FROM tb_seckill_order ORDER BY order_no LIMIT 1`).Scan(&orderNo); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE tb_seckill_order SET quantity = quantity + 1 WHERE order_no = ?`, orderNo); err != nil {
		t.Fatal(err)
	}
	out, _, err = command(t, dsn, "replay", "--into", into, "--verify", "--fresh")
	if err == nil {
		t.Fatalf("replay --verify of a tampered table exited 0:\n%s", out)
	}
	if !strings.Contains(out, "verify: tb_seckill_order differs") || !strings.Contains(out, orderNo) {
		t.Fatalf("replay --verify does not name the tampered order %s:\n%s", orderNo, out)
	}
	if sums := checksumRow.FindStringSubmatch(out); sums == nil || sums[1] == liveRow.FindStringSubmatch(out)[1] {
		t.Fatalf("checksums of a tampered table still equal:\n%s", out)
	}
}

// TestBenchPrintsItsTableAndPassingInvariants runs `seckill bench` (its table, not -json) against a real serve
// with a small sale: every row of the table is printed, the sale sells exactly its stock and the invariant check
// passes.
func TestBenchPrintsItsTableAndPassingInvariants(t *testing.T) {
	a := startApp(t, nil)
	var out bytes.Buffer
	args := []string{"bench", "-url", a.base, "-buyers", "80", "-stock", "25", "-c", "4", "-drain-timeout", "60s"}
	if err := run(context.Background(), args, envOf(a.env), &out, io.Discard); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, row := range []string{`(?m)^mode +\S+`, `(?m)^product +\d+ \(stock 25\)$`, `(?m)^requests +\d+ over 4 connections in `,
		`(?m)^throughput +\d+ req/s$`, `(?m)^latency ms +p50 [\d.]+ +p90 [\d.]+ +p99 [\d.]+ +p99\.9 [\d.]+ +max [\d.]+$`,
		`(?m)^answers .* 200×25( |$)`, `(?m)^all in MySQL +[\d.]+s after the first request$`, `(?m)^invariants +PASS$`} {
		if !regexp.MustCompile(row).MatchString(out.String()) {
			t.Errorf("bench table has no row %s:\n%s", row, out.String())
		}
	}
	if strings.Contains(out.String(), "FAIL") {
		t.Fatalf("bench table reports a failure:\n%s", out.String())
	}
}
