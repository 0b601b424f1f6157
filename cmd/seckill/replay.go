package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/term"

	"github.com/seckill/seckill/histgen"
	"github.com/seckill/seckill/replay"
	"github.com/seckill/seckill/schema"
)

const replayUsage = `usage: seckill replay [flags]

Rebuilds tb_seckill_product, tb_seckill_order, tb_stock_log and tb_user_seckill from tb_event of SECKILL_MYSQL_DSN,
in seq order, through the apply path of the live consumers. By default into another database, so the live
tables stay untouched while the server runs. An interrupted replay (Ctrl-C) resumes from its checkpoint when
run again with the same flags.

flags:
  --into NAME       rebuild into database NAME on the same server, created and migrated if missing
                    (default seckill_replay)
  --in-place        rebuild the live tables themselves; refused while a consumer heartbeat is under 15s old
  --verify          compare the rebuilt tables with the live ones row by row; exit status 1 if they differ
  --until SEQ       rebuild the tables as they were once event SEQ was applied
  --until-time T    rebuild the tables as they were at T (RFC3339): every event recorded (recorded_at) by then
  --batch N         events per transaction (default 5000)
  --reset, --fresh  start over even if an interrupted replay could resume
  --skip-bad        skip events that cannot be applied (unknown type, bad payload) and list them, instead of stopping

generator (writes a history instead of replaying):
  --generate N      write a consistent generated history of N events into tb_event of SECKILL_MYSQL_DSN's
                    database, created if missing; its tb_event must be empty
  --products P      products listed by the generated history (default 10)
  --pay-share F     share of reservations paid (default 0.6)
  --cancel-share F  share of reservations cancelled, half by the buyer (half of whom buy again), half by the payment timeout (default 0.2)
  --seed S          generator seed (default 1)
`

// replayOptions are the flags of `seckill replay`.
type replayOptions struct {
	Into      string
	InPlace   bool
	Verify    bool
	Until     int64
	UntilTime string
	Batch     int
	Fresh     bool
	SkipBad   bool
	Generate  int
	Gen       histgen.Options
}

func parseReplayFlags(args []string, stderr io.Writer) (replayOptions, error) {
	var o replayOptions
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage) }
	fs.StringVar(&o.Into, "into", "seckill_replay", "")
	fs.BoolVar(&o.InPlace, "in-place", false, "")
	fs.BoolVar(&o.Verify, "verify", false, "")
	fs.Int64Var(&o.Until, "until", 0, "")
	fs.StringVar(&o.UntilTime, "until-time", "", "")
	fs.IntVar(&o.Batch, "batch", replay.DefaultBatch, "")
	fs.BoolVar(&o.Fresh, "reset", false, "")
	fs.BoolVar(&o.Fresh, "fresh", false, "")
	fs.BoolVar(&o.SkipBad, "skip-bad", false, "")
	fs.IntVar(&o.Generate, "generate", 0, "")
	fs.IntVar(&o.Gen.Products, "products", histgen.DefaultProducts, "")
	fs.Float64Var(&o.Gen.PayShare, "pay-share", 0.6, "")
	fs.Float64Var(&o.Gen.CancelShare, "cancel-share", 0.2, "")
	fs.Uint64Var(&o.Gen.Seed, "seed", 1, "")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("replay: unexpected argument %q", fs.Arg(0))
	}
	intoSet := false
	fs.Visit(func(f *flag.Flag) { intoSet = intoSet || f.Name == "into" })
	if o.InPlace && intoSet {
		return o, errors.New("replay: --in-place and --into are exclusive")
	}
	return o, nil
}

// replayCommand runs `seckill replay`: progress on stderr, the summary and checksums on stdout.
func replayCommand(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	o, err := parseReplayFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.Generate > 0 {
		return generateCommand(ctx, cfg, o, stdout)
	}
	rc := replay.Config{InPlace: o.InPlace, Verify: o.Verify, UntilSeq: o.Until, Batch: o.Batch, Fresh: o.Fresh,
		SkipBad: o.SkipBad}
	if o.UntilTime != "" {
		if rc.UntilTime, err = time.Parse(time.RFC3339Nano, o.UntilTime); err != nil {
			return fmt.Errorf("replay --until-time %q: want RFC3339 such as 2026-11-23T20:05:00Z", o.UntilTime)
		}
	}
	src, err := openMySQL(ctx, cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	where := "in place"
	if !o.InPlace {
		target, err := replay.OpenTarget(ctx, cfg.MySQLDSN, o.Into)
		if err != nil {
			return err
		}
		defer target.Close()
		rc.Target, where = target, "into "+o.Into
	}
	rc.Progress = replay.NewProgressPrinter(stderr, isTerminal(stderr))

	res, err := replay.Run(ctx, src, rc)
	printReplay(stdout, res, where)
	if ctx.Err() != nil && res.LastSeq < res.EndSeq {
		fmt.Fprintf(stderr, "interrupted after seq %d; run the same command again to resume\n", res.LastSeq)
	}
	return err
}

func printReplay(w io.Writer, res replay.Result, where string) {
	if res.Source == "" {
		return
	}
	if res.EndSeq == 0 {
		fmt.Fprintf(w, "nothing to replay: tb_event of %s holds no event up to the chosen point\n", res.Source)
		return
	}
	resumed := ""
	if res.ResumedFrom > 0 {
		resumed = fmt.Sprintf(", resumed after seq %d", res.ResumedFrom)
	}
	first := res.FirstSeq
	if first == 0 {
		first = res.LastSeq
	}
	handled := res.Applied + int64(len(res.Skipped))
	fmt.Fprintf(w, "replayed %d events (seq %d..%d) of %s %s in %.1fs (%.0f events/s)%s; %d rejected by the projection as live, %d skipped\n",
		handled, first, res.LastSeq, res.Source, where, res.Elapsed.Seconds(),
		float64(handled)/max(res.Elapsed.Seconds(), 1e-9), resumed, res.Rejected, len(res.Skipped))
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "skipped seq %d (%s): %v\n", s.Seq, s.Type, s.Err)
	}
	if res.Checksums != nil {
		fmt.Fprintf(w, "checksum %s\n", checksumLine(res.Checksums))
	}
	if res.Verify == nil {
		return
	}
	live := map[string]string{}
	for _, t := range res.Verify.Tables {
		live[t.Table] = t.Live
	}
	fmt.Fprintf(w, "live     %s\n", checksumLine(live))
	if res.Verify.Match() {
		fmt.Fprintln(w, "verify: the rebuilt tables equal the live ones")
		return
	}
	for _, t := range res.Verify.Differ() {
		fmt.Fprintf(w, "verify: %s differs, first at %s\n  rebuilt: %s\n  live:    %s\n", t.Table, t.Diff.Key,
			orMissing(t.Diff.Rebuilt), orMissing(t.Diff.Live))
	}
}

func checksumLine(sums map[string]string) string {
	parts := make([]string, 0, len(schema.Tables))
	for _, t := range schema.Tables {
		parts = append(parts, t+"="+sums[t])
	}
	return strings.Join(parts, " ")
}

func orMissing(row string) string {
	if row == "" {
		return "(no row)"
	}
	return row
}

// generateCommand writes a generated history into the configured database, creating it when missing.
func generateCommand(ctx context.Context, cfg Config, o replayOptions, stdout io.Writer) error {
	dsn, err := mysql.ParseDSN(cfg.MySQLDSN)
	if err != nil {
		return fmt.Errorf("SECKILL_MYSQL_DSN: %w", err)
	}
	db, err := replay.OpenTarget(ctx, cfg.MySQLDSN, dsn.DBName)
	if err != nil {
		return err
	}
	defer db.Close()
	o.Gen.Events = o.Generate
	start := time.Now()
	n, err := histgen.Generate(ctx, db, o.Gen)
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "generated %d events into %s.tb_event in %.1fs (%.0f events/s)\n", n, dsn.DBName,
		took.Seconds(), float64(n)/took.Seconds())
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
