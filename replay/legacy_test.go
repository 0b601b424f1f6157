package replay_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/histgen"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/replay"
	"github.com/seckill/seckill/schema/schematest"
)

// storedRow is one tb_event row as the first release wrote it: its payload verbatim.
type storedRow struct {
	typ, aggregate, payload string
}

// firstReleaseSale is a sale in the first release's format, from events/testdata/*.v1.json: product 1 listed with
// 10000, buyer 1002 reserves SK1-00000001 and pays it, buyer 1003 reserves SK1-00000002 (the reservation file
// with another buyer and order) and the payment timeout cancels it.
func firstReleaseSale(t *testing.T) []storedRow {
	t.Helper()
	read := func(typ string) string {
		b, err := os.ReadFile(filepath.Join("..", "events", "testdata", typ+".v1.json"))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	reserved := read(events.TypeSeckillReserved)
	second := strings.NewReplacer(`"0f8fad5b-d9cb-469f-a165-70867728950e"`, `"0f8fad5b-d9cb-469f-a165-70867728950f"`,
		`"SK1-00000001"`, `"SK1-00000002"`, `"userId":1002`, `"userId":1003`, `"stockBefore":10000`, `"stockBefore":9999`,
		`"stockAfter":9999`, `"stockAfter":9998`).Replace(reserved)
	if second == reserved {
		t.Fatal("testdata reservation changed: the second reservation is not derived from it")
	}
	rows := []storedRow{
		{events.TypeProductListed, "1", read(events.TypeProductListed)},
		{events.TypeSeckillReserved, "SK1-00000001", reserved},
		{events.TypeSeckillReserved, "SK1-00000002", second},
		{events.TypeSeckillOrderPaid, "SK1-00000001", read(events.TypeSeckillOrderPaid)},
		{events.TypeSeckillOrderCancelled, "SK1-00000002", read(events.TypeSeckillOrderCancelled)},
	}
	for _, r := range rows {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.payload), &fields); err != nil {
			t.Fatal(err)
		}
		if _, ok := fields["seq"]; ok {
			t.Fatalf("%s payload has a seq: not the first release's format", r.typ)
		}
	}
	return rows
}

// insertRows writes rows into tb_event as they are, in order, the way the first release's consumers did.
func insertRows(t *testing.T, db *sql.DB, rows []storedRow) {
	t.Helper()
	for _, r := range rows {
		var id struct{ EventID string }
		if err := json.Unmarshal([]byte(r.payload), &id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO tb_event (event_id, event_type, aggregate_id, payload, occurred_at)
			VALUES (?, ?, ?, ?, '2026-11-23 20:00:00')`, id.EventID, r.typ, r.aggregate, r.payload); err != nil {
			t.Fatalf("insert %s: %v", r.typ, err)
		}
	}
}

func rowsOf(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplayOfFirstReleasePayloads: tb_event rows in the first release's format (no seq) replay into the tables
// the contract gives that sale — stock 9999, one order paid, one cancelled with its unit back and its rollback
// log — and into exactly the tables the live consumers build from the same payloads.
func TestReplayOfFirstReleasePayloads(t *testing.T) {
	sale := firstReleaseSale(t)
	src := schematest.MySQL(t).DB
	insertRows(t, src, sale)
	res := run(t, src, replay.Config{InPlace: true}) // in place: the invariant checker reads tb_event beside the tables
	target := src
	if res.Applied != int64(len(sale)) || len(res.Skipped) != 0 || res.Rejected != 0 {
		t.Fatalf("replay: %d applied, %d skipped, %d rejected; want %d applied", res.Applied, len(res.Skipped), res.Rejected, len(sale))
	}

	if got := rowsOf(t, target, `SELECT CONCAT(id, ' ', product_name, ' ', price, ' ', stock) FROM tb_seckill_product`); len(got) != 1 ||
		got[0] != "1 iPhone 15 Pro 6999.00 9999" {
		t.Errorf("products %q, want 1 iPhone 15 Pro 6999.00 9999", got)
	}
	if got := rowsOf(t, target, `SELECT CONCAT(order_no, ' ', user_id, ' ', quantity, ' ', status) FROM tb_seckill_order ORDER BY order_no`); strings.Join(got, ",") !=
		"SK1-00000001 1002 1 1,SK1-00000002 1003 1 -1" {
		t.Errorf("orders %q, want SK1-00000001 paid by 1002 and SK1-00000002 of 1003 cancelled", got)
	}
	if got := rowsOf(t, target, `SELECT CONCAT(order_no, ' ', type, ' ', before_stock, '->', after_stock) FROM tb_stock_log ORDER BY order_no, type`); strings.Join(got, ",") !=
		"SK1-00000001 1 10000->9999,SK1-00000002 1 9999->9998,SK1-00000002 2 9998->9999" {
		t.Errorf("stock logs %q", got)
	}
	projectionstest.RequireInvariants(t, target, 1)

	// The live path: the consumers decode the same payloads and record them.
	live := schematest.MySQL(t).DB
	store, err := projections.NewStore(live)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sale {
		e, err := events.Decode(r.typ, []byte(r.payload))
		if err != nil {
			t.Fatalf("decode %s: %v", r.typ, err)
		}
		if out, err := store.Record(context.Background(), e); err != nil || out == projections.Rejected {
			t.Fatalf("record %s: %v %v", r.typ, out, err)
		}
	}
	rebuilt, err := projections.Checksums(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	want, err := projections.Checksums(context.Background(), live)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(rebuilt, want) {
		t.Fatalf("replayed tables differ from the live ones:\nreplayed %v\nlive     %v", rebuilt, want)
	}
}

// TestReplayOfAGeneratedFirstReleaseHistory: a whole generated sale stored in the first release's format (every
// payload without seq) replays into tables whose invariants hold and that equal the tables of the same sale in
// the current format, but for the rollback logs, which the first release derived from arrival order.
func TestReplayOfAGeneratedFirstReleaseHistory(t *testing.T) {
	hist, err := histgen.History(sale)
	if err != nil {
		t.Fatal(err)
	}
	current, legacy := schematest.MySQL(t).DB, schematest.MySQL(t).DB
	var curRows, oldRows []storedRow
	for e := range hist {
		for _, c := range []struct {
			e    events.Event
			rows *[]storedRow
		}{{e, &curRows}, {projectionstest.FirstRelease(e), &oldRows}} {
			b, err := json.Marshal(c.e)
			if err != nil {
				t.Fatal(err)
			}
			*c.rows = append(*c.rows, storedRow{c.e.EventType(), c.e.Aggregate(), string(b)})
		}
	}
	for _, r := range oldRows {
		if strings.Contains(r.payload, `"seq"`) {
			t.Fatalf("first-release payload with a seq: %s", r.payload)
		}
	}
	insertRows(t, current, curRows)
	insertRows(t, legacy, oldRows)
	// In place: the invariant checker reads tb_event beside the tables.
	run(t, current, replay.Config{InPlace: true})
	res := run(t, legacy, replay.Config{InPlace: true})
	if res.Applied != int64(len(oldRows)) || len(res.Skipped) != 0 {
		t.Fatalf("replay of the first-release history: %d applied, %d skipped, want %d applied", res.Applied, len(res.Skipped), len(oldRows))
	}
	for id := int64(1); id <= int64(sale.Products); id++ {
		projectionstest.RequireInvariants(t, legacy, id)
	}
	// Every column but those counting sequence numbers (status_seq, order_seq, stock_seq, events_applied), which the
	// first release does not carry,
	// and the rollback logs.
	for _, q := range []string{
		`SELECT CONCAT_WS(' ', order_no, user_id, product_id, product_name, price, quantity, status, create_time, update_time)
			FROM tb_seckill_order ORDER BY order_no`,
		`SELECT CONCAT_WS(' ', user_id, product_id, order_no, create_time) FROM tb_user_seckill ORDER BY user_id, product_id`,
		`SELECT CONCAT_WS(' ', id, product_name, price, stock, version) FROM tb_seckill_product ORDER BY id`,
		`SELECT CONCAT_WS(' ', order_no, quantity, before_stock, after_stock) FROM tb_stock_log WHERE type = 1 ORDER BY order_no`,
	} {
		x, y := rowsOf(t, current, q), rowsOf(t, legacy, q)
		if len(x) == 0 || strings.Join(x, "\n") != strings.Join(y, "\n") {
			t.Errorf("%s: %d rows from the current format, %d from first-release payloads, or they differ:\n%q\n%q", q, len(x), len(y), x[:min(len(x), 3)], y[:min(len(y), 3)])
		}
	}
}
