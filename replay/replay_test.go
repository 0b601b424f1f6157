package replay_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/histgen"
	"github.com/seckill/seckill/projections"
	"github.com/seckill/seckill/projections/projectionstest"
	"github.com/seckill/seckill/replay"
	"github.com/seckill/seckill/schema"
	"github.com/seckill/seckill/schema/schematest"
)

// sale is the small history most tests replay: three products, payments and cancellations of every reason.
var sale = histgen.Options{Events: 3000, Products: 3, PayShare: 0.5, CancelShare: 0.4, Seed: 7}

// recordLive records a generated history through the live path (Store.Record) and returns the database with
// its tb_event and live tables, and how many events the projection rejected.
func recordLive(t *testing.T, opts histgen.Options) (*sql.DB, int64) {
	t.Helper()
	db := schematest.MySQL(t).DB
	store, err := projections.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := histgen.History(opts)
	if err != nil {
		t.Fatal(err)
	}
	var rejected int64
	for e := range hist {
		out, err := store.Record(context.Background(), e)
		if err != nil {
			t.Fatalf("record %s %s: %v", e.EventType(), e.ID(), err)
		}
		if out == projections.Rejected {
			rejected++
		}
	}
	return db, rejected
}

// generated writes a generated history into the tb_event of a fresh database (no live tables).
func generated(t *testing.T, opts histgen.Options) *sql.DB {
	t.Helper()
	db := schematest.MySQL(t).DB
	if _, err := histgen.Generate(context.Background(), db, opts); err != nil {
		t.Fatal(err)
	}
	return db
}

func run(t *testing.T, src *sql.DB, cfg replay.Config) replay.Result {
	t.Helper()
	res, err := replay.Run(context.Background(), src, cfg)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return res
}

func TestReplayOfLiveHistoryGivesTheLiveTables(t *testing.T) {
	t.Parallel()
	live, rejected := recordLive(t, sale)
	for p := int64(1); p <= int64(sale.Products); p++ {
		projectionstest.RequireInvariants(t, live, p)
	}
	var reasons int
	if err := live.QueryRow(`SELECT COUNT(DISTINCT JSON_VALUE(payload, '$.reason')) FROM tb_event
		WHERE event_type = 'SeckillOrderCancelled'`).Scan(&reasons); err != nil {
		t.Fatal(err)
	}
	if reasons != 2 || rejected != 0 {
		t.Fatalf("history has %d cancellation reasons and %d rejected events; want user and payment_timeout, "+
			"and none rejected", reasons, rejected)
	}

	target := schematest.MySQL(t).DB
	res := run(t, live, replay.Config{Target: target, Verify: true, Batch: 500})
	if !res.Verify.Match() {
		t.Fatalf("verify: %+v", res.Verify)
	}
	if res.Applied != int64(sale.Events) || res.Rejected != rejected || len(res.Skipped) != 0 {
		t.Fatalf("applied %d (rejected %d, skipped %d); want %d (rejected %d, skipped 0)",
			res.Applied, res.Rejected, len(res.Skipped), sale.Events, rejected)
	}
	if want := projectionstest.Checksums(t, live); !maps.Equal(res.Checksums, want) {
		t.Fatalf("checksums %v; live %v", res.Checksums, want)
	}

	again := run(t, live, replay.Config{Target: target, Verify: true, Batch: 64})
	if again.ResumedFrom != 0 || !maps.Equal(again.Checksums, res.Checksums) {
		t.Fatalf("second replay resumed from %d with checksums %v; want a fresh start with %v",
			again.ResumedFrom, again.Checksums, res.Checksums)
	}
}

func TestReplayVerifyNamesTheFirstDifferingRow(t *testing.T) {
	t.Parallel()
	live, _ := recordLive(t, histgen.Options{Events: 300, Products: 1, PayShare: 0.3, CancelShare: 0.2, Seed: 3})
	var orderNo string
	if err := live.QueryRow(`SELECT MIN(order_no) FROM tb_seckill_order WHERE status = 0`).Scan(&orderNo); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Exec(`UPDATE tb_seckill_order SET status = 1 WHERE order_no = ?`, orderNo); err != nil {
		t.Fatal(err)
	}

	res, err := replay.Run(context.Background(), live, replay.Config{Target: schematest.MySQL(t).DB, Verify: true})
	if !errors.Is(err, replay.ErrMismatch) {
		t.Fatalf("replay: %v; want ErrMismatch", err)
	}
	differ := res.Verify.Differ()
	if len(differ) != 1 || differ[0].Table != "tb_seckill_order" {
		t.Fatalf("differing tables %+v; want tb_seckill_order alone", differ)
	}
	d := differ[0].Diff
	if d.Key != "order_no="+orderNo || !strings.Contains(d.Rebuilt, "status=0") || !strings.Contains(d.Live, "status=1") {
		t.Fatalf("first difference %+v; want order_no=%s with status 0 rebuilt and 1 live", d, orderNo)
	}
}

func TestReplayUntilSeqRebuildsThePastStock(t *testing.T) {
	t.Parallel()
	src := generated(t, sale)
	until := int64(sale.Events / 3)

	// The expected stock, from the events alone: listed, minus every reservation up to until, plus every
	// cancellation up to until.
	hist, _ := histgen.History(sale)
	stock := map[int64]int64{}
	var seq int64
	for e := range hist {
		if seq++; seq > until {
			break
		}
		switch e := e.(type) {
		case *events.ProductListed:
			stock[e.ProductID] = e.Stock
		case *events.SeckillReserved:
			stock[e.ProductID] -= e.Quantity
		case *events.SeckillOrderCancelled:
			stock[e.ProductID] += e.Quantity
		}
	}

	target := schematest.MySQL(t).DB
	res := run(t, src, replay.Config{Target: target, UntilSeq: until, Batch: 128})
	if res.LastSeq != until || res.Applied != until {
		t.Fatalf("replayed up to seq %d (%d events); want %d", res.LastSeq, res.Applied, until)
	}
	for id, want := range stock {
		var got int64
		if err := target.QueryRow(`SELECT stock FROM tb_seckill_product WHERE id = ?`, id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("product %d stock at seq %d = %d; want %d", id, until, got, want)
		}
	}

	// Until a time: the last event recorded at or before it, here the last one sharing seq until's millisecond.
	var at time.Time
	var wantSeq int64
	if err := src.QueryRow(`SELECT recorded_at FROM tb_event WHERE seq = ?`, until).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if err := src.QueryRow(`SELECT MAX(seq) FROM tb_event WHERE recorded_at <= ?`, at).Scan(&wantSeq); err != nil {
		t.Fatal(err)
	}
	res = run(t, src, replay.Config{Target: target, UntilTime: at})
	if res.LastSeq != wantSeq {
		t.Fatalf("until %s replayed up to seq %d; want %d", at.Format(time.RFC3339Nano), res.LastSeq, wantSeq)
	}
}

func TestReplayInterruptedResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	src := generated(t, sale)
	whole := run(t, src, replay.Config{Target: schematest.MySQL(t).DB})

	target := schematest.MySQL(t).DB
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches := 0
	_, err := replay.Run(ctx, src, replay.Config{Target: target, Batch: 200, Progress: func(p replay.Progress) {
		if batches++; batches == 3 {
			cancel() // Ctrl-C after the third batch committed
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replay: %v; want context.Canceled", err)
	}
	var checkpoint int64
	if err := target.QueryRow(`SELECT last_seq FROM replay_checkpoint`).Scan(&checkpoint); err != nil {
		t.Fatal(err)
	}
	if checkpoint != 600 {
		t.Fatalf("checkpoint after 3 batches of 200 = %d; want 600", checkpoint)
	}

	res := run(t, src, replay.Config{Target: target, Batch: 500})
	if res.ResumedFrom != 600 || res.FirstSeq != 601 || res.Applied != int64(sale.Events)-600 {
		t.Fatalf("resumed from %d at seq %d applying %d; want from 600 at 601 applying %d",
			res.ResumedFrom, res.FirstSeq, res.Applied, sale.Events-600)
	}
	if !maps.Equal(res.Checksums, whole.Checksums) {
		t.Fatalf("resumed checksums %v; uninterrupted %v", res.Checksums, whole.Checksums)
	}

	fresh := run(t, src, replay.Config{Target: target, Fresh: true})
	if fresh.ResumedFrom != 0 || !maps.Equal(fresh.Checksums, whole.Checksums) {
		t.Fatalf("fresh replay resumed from %d with %v; want 0 with %v", fresh.ResumedFrom, fresh.Checksums,
			whole.Checksums)
	}
}

func TestReplayStopsAtABadEventAndSkipBadSkipsIt(t *testing.T) {
	t.Parallel()
	src := generated(t, sale)
	// Two payments go bad: one gets a type nobody knows, one a payload that does not decode. Payments are
	// chosen so that skipping them leaves every other event applicable.
	var unknown, broken int64
	if err := src.QueryRow(`SELECT MIN(seq), MAX(seq) FROM tb_event WHERE event_type = 'SeckillOrderPaid'
		AND seq > 250`).Scan(&unknown, &broken); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(`UPDATE tb_event SET event_type = 'SeckillOrderRefunded' WHERE seq = ?`, unknown); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(`UPDATE tb_event SET payload = '{"eventId": 42}' WHERE seq = ?`, broken); err != nil {
		t.Fatal(err)
	}

	const batch = 100
	target := schematest.MySQL(t).DB
	res, err := replay.Run(context.Background(), src, replay.Config{Target: target, Batch: batch})
	var bad *replay.BadEventError
	if !errors.As(err, &bad) || bad.Seq != unknown || !errors.Is(err, events.ErrUnknownType) {
		t.Fatalf("replay: %v; want a BadEventError at seq %d for an unknown type", err, unknown)
	}
	if !strings.Contains(err.Error(), "seq "+strconv.FormatInt(unknown, 10)) {
		t.Fatalf("error %q does not name seq %d", err, unknown)
	}
	before := (unknown - 1) / batch * batch // the checkpoint stays before the batch holding the bad event
	if res.LastSeq != before {
		t.Fatalf("stopped with checkpoint %d; want %d", res.LastSeq, before)
	}
	upToBefore := schematest.MySQL(t).DB
	run(t, src, replay.Config{Target: upToBefore, UntilSeq: before})
	projectionstest.RequireSameTables(t, target, upToBefore)

	res = run(t, src, replay.Config{Target: target, SkipBad: true, Fresh: true})
	if len(res.Skipped) != 2 || res.Skipped[0].Seq != unknown || res.Skipped[1].Seq != broken {
		t.Fatalf("skipped %+v; want seqs %d and %d", res.Skipped, unknown, broken)
	}
	if res.Skipped[0].Type != "SeckillOrderRefunded" || res.Skipped[1].Err == nil {
		t.Fatalf("skipped %+v; want the unknown type and the decode error", res.Skipped)
	}
	if res.LastSeq != int64(sale.Events) || res.Applied != int64(sale.Events)-2 {
		t.Fatalf("replayed up to %d applying %d; want %d applying %d", res.LastSeq, res.Applied, sale.Events,
			sale.Events-2)
	}
}

func TestReplayInPlaceRefusesWhileAConsumerRuns(t *testing.T) {
	t.Parallel()
	live, _ := recordLive(t, histgen.Options{Events: 400, Products: 2, PayShare: 0.5, CancelShare: 0.3, Seed: 5})
	sums := projectionstest.Checksums(t, live)
	ctx := context.Background()

	if err := schema.Heartbeat(ctx, live, "consumer-gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := live.ExecContext(ctx, `UPDATE tb_consumer_heartbeat SET seen_at = seen_at - INTERVAL 1 MINUTE`); err != nil {
		t.Fatal(err)
	}
	res := run(t, live, replay.Config{InPlace: true, Batch: 100})
	if !maps.Equal(res.Checksums, sums) {
		t.Fatalf("in-place checksums %v; live before %v", res.Checksums, sums)
	}

	if err := schema.Heartbeat(ctx, live, "host-a:4242"); err != nil {
		t.Fatal(err)
	}
	_, err := replay.Run(ctx, live, replay.Config{InPlace: true})
	if !errors.Is(err, replay.ErrConsumersRunning) || !strings.Contains(err.Error(), "host-a:4242") ||
		strings.Contains(err.Error(), "consumer-gone") {
		t.Fatalf("in-place replay with a fresh heartbeat: %v; want ErrConsumersRunning naming host-a:4242 alone", err)
	}
	if got := projectionstest.Checksums(t, live); !maps.Equal(got, sums) {
		t.Fatalf("a refused in-place replay changed the live tables: %v; before %v", got, sums)
	}
}

// TestReplayOfAShuffledLiveHistory: the live consumers recorded a sale in a scrambled order (four queues, the
// retry topic), with redeliveries, so tb_event holds it in that order. Replaying it gives the live tables, and
// both equal the tables of the sale recorded in the order Redis decided it.
func TestReplayOfAShuffledLiveHistory(t *testing.T) {
	t.Parallel()
	opts := histgen.Options{Events: 2000, Products: 2, PayShare: 0.4, CancelShare: 0.4, Seed: 11}
	inOrder, _ := recordLive(t, opts)
	hist, err := histgen.History(opts)
	if err != nil {
		t.Fatal(err)
	}
	var all []events.Event
	for e := range hist {
		all = append(all, e)
	}
	rng := rand.New(rand.NewPCG(11, 11))
	for range len(all) / 10 {
		all = append(all, all[rng.IntN(len(all))])
	}
	listings := all[:opts.Products]
	rest := all[opts.Products:]
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	live := schematest.MySQL(t).DB
	store, err := projections.NewStore(live)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range store.RecordBatch(context.Background(), listings) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for start := 0; start < len(rest); start += 50 {
		for _, r := range store.RecordBatch(context.Background(), rest[start:min(start+50, len(rest))]) {
			if r.Err != nil || r.Outcome == projections.Rejected {
				t.Fatalf("record: %s, %v", r.Outcome, r.Err)
			}
		}
	}
	projectionstest.RequireSameTables(t, inOrder, live)
	res := run(t, live, replay.Config{Target: schematest.MySQL(t).DB, Verify: true, Batch: 300})
	if !res.Verify.Match() || res.Rejected != 0 {
		t.Fatalf("verify %+v, %d rejected", res.Verify, res.Rejected)
	}
	for p := int64(1); p <= int64(opts.Products); p++ {
		projectionstest.RequireInvariants(t, live, p)
	}
}
