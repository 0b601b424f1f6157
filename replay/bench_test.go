package replay_test

import (
	"context"
	"testing"

	"github.com/seckill/seckill/histgen"
	"github.com/seckill/seckill/replay"
	"github.com/seckill/seckill/schema/schematest"
)

// BenchmarkReplay replays b.N generated events into a fresh database: reservations alone, and a sale with the
// default shares of `seckill replay --generate` (60% paid, 20% cancelled). Generating is not timed.
// Run: go test ./replay -run '^$' -bench Replay -benchtime 100000x
func BenchmarkReplay(b *testing.B) {
	for name, opts := range map[string]histgen.Options{
		"reservations": {Products: 10},
		"sale":         {Products: 10, PayShare: 0.6, CancelShare: 0.2},
	} {
		b.Run(name, func(b *testing.B) {
			opts.Events = max(b.N, opts.Products)
			src := schematest.MySQL(b).DB
			if _, err := histgen.Generate(context.Background(), src, opts); err != nil {
				b.Fatal(err)
			}
			target := schematest.MySQL(b).DB
			b.ResetTimer()
			res, err := replay.Run(context.Background(), src, replay.Config{Target: target, Batch: 5000})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.Applied)/res.Elapsed.Seconds(), "events/s")
		})
	}
}
