package replay

import (
	"context"
	"testing"
	"time"

	"github.com/seckill/seckill/histgen"
	"github.com/seckill/seckill/schema/schematest"
)

// TestReaderStopsWhenApplyHasGoneAway: apply returns early (an error, an interruption) and cancels the reader's
// context without receiving any more. The reader, whose next query then fails, must return instead of blocking
// for ever on sending that error.
func TestReaderStopsWhenApplyHasGoneAway(t *testing.T) {
	db := schematest.MySQL(t).DB
	if _, err := histgen.Generate(context.Background(), db, histgen.Options{Events: 50, Products: 1, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	for name, after := range map[string]int64{"failing query": 0, "between batches": 10} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan batch) // nobody receives: apply has returned
			done := make(chan struct{})
			if name == "failing query" {
				cancel() // the query itself fails with the cancelled context
			}
			go func() { read(ctx, db, after, 50, 10, out); close(done) }()
			if name == "between batches" {
				// The reader has a batch ready and is blocked sending it; apply is gone.
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the reader is still blocked 10s after its context ended")
			}
			cancel()
		})
	}
}
