package schema

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClient returns the Redis client the scripts run on: a single-node client for one address, go-redis's cluster
// client for several addresses or o.IsClusterMode (Redis Cluster: every script touches one product's keys, which
// share a hash tag, so each runs whole on the shard that owns the product). Either never sends a command again by
// itself: MaxRetries -1, and on a cluster MaxRedirects -1 (one attempt). The defaults (3 retries on EOF,
// connection reset, read timeout, LOADING, pool timeout; on a cluster 3 more attempts, on another node after the
// first) would run Reserve or Settle a second time after the first run's reply was lost, and the caller would be
// told the second run's answer ("already bought", "already paid") for the first one's effect. A MOVED or ASK
// reply (a slot that moved, a failover) is thus returned, not followed; it means the script did not run, and the
// client reloads the slot map so that the next call goes to the new owner. Script.Run's own fallback (EVALSHA,
// then EVAL on NOSCRIPT) stays: NOSCRIPT means the script did not run. A failed call is classified by
// ScriptCallError and decided by the caller (the buyer, the router's retry of an idempotent handler, the next
// relay pass).
func NewClient(o redis.UniversalOptions) redis.UniversalClient {
	o.MaxRetries = -1
	o.MaxRedirects = -1
	return redis.NewUniversalClient(&o)
}

// ScriptPipeline returns rdb's autopipeliner (go-redis AutoPipeline), on which the request path runs Settle (its
// reservations are batched by a Reserver instead): the script calls of concurrent requests go to Redis together,
// one write and one read for a batch instead of one round trip each. Every call is still its own EVALSHA, atomic
// in Redis and answered with its own reply; only the transport is shared. The autopipeliner follows rdb's options,
// so with NewClient's MaxRetries -1 a batch is never sent again: a lost batch fails each of its calls with an error
// ScriptCallError says is unknown (the connection broke after the write) or not run (no connection could be had).
// A call's context deadline is not honoured once it is queued; rdb's ReadTimeout and WriteTimeout bound it. It is
// safe for concurrent use and shared by every caller; closing rdb stops it.
func ScriptPipeline(rdb redis.UniversalClient) (*redis.AutoPipeliner, error) {
	ap, err := rdb.AutoPipeline()
	if err != nil {
		return nil, fmt.Errorf("redis autopipeline: %w", err)
	}
	return ap, nil
}

// Failed script calls are one of two kinds; ScriptCallError wraps the error in the right one.
var (
	// ErrScriptNotRun: the script certainly did not run. The command never left the client (no connection could
	// be had: dial refused or timed out, pool timeout, client closed) or Redis refused it before running it.
	ErrScriptNotRun = errors.New("redis script did not run")
	// ErrScriptOutcomeUnknown: the command may have reached Redis and run, but no reply came (connection reset
	// or closed, read timeout, the caller's deadline, Redis died mid-call) or the reply was an error raised while
	// it ran. Only reading the state tells what happened.
	ErrScriptOutcomeUnknown = errors.New("redis script outcome unknown: it may have run")
)

// refusedBeforeRun are the error replies with which Redis refuses a script before it writes anything: it is
// loading its dataset, busy with another script, read-only, out of memory or unable to persist (refused at the
// script's first write, so nothing was written), the client is not authorised, or (Redis Cluster) the node does
// not serve the script's slot (MOVED, ASK), the slot is migrating (TRYAGAIN), the cluster is down (CLUSTERDOWN) or
// the keys span slots (CROSSSLOT).
var refusedBeforeRun = []string{"LOADING ", "BUSY ", "NOSCRIPT ", "MASTERDOWN ", "READONLY ", "OOM ", "MISCONF ",
	"NOREPLICAS ", "NOAUTH ", "NOPERM ", "WRONGPASS ", "ERR max number of clients", "MOVED ", "ASK ", "TRYAGAIN ",
	"CLUSTERDOWN ", "CROSSSLOT "}

// ScriptCallError wraps the error of a script call (Reserve, Settle) in ErrScriptNotRun when the script certainly
// did not run and in ErrScriptOutcomeUnknown otherwise; nil, and an error already wrapping either, stay as they
// are. When in doubt it says unknown: "not run" is a promise to the caller that nothing changed.
func ScriptCallError(err error) error {
	if err == nil || errors.Is(err, ErrScriptOutcomeUnknown) || errors.Is(err, ErrScriptNotRun) {
		return err
	}
	if scriptNotRun(err) {
		return fmt.Errorf("%w: %w", ErrScriptNotRun, err)
	}
	return fmt.Errorf("%w: %w", ErrScriptOutcomeUnknown, err)
}

func scriptNotRun(err error) bool {
	if errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		for _, p := range refusedBeforeRun {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
	}
	return false
}

// IsLoading reports whether Redis answered that it is still loading its dataset (after a restart, from its AOF
// or RDB file): it will answer once loaded.
func IsLoading(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "LOADING ")
}

// WaitLoaded pings Redis every interval while it answers that it is still loading its dataset, and returns once
// it answers (nil), on any other error, or when ctx ends.
func WaitLoaded(ctx context.Context, rdb redis.Cmdable, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil || !IsLoading(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis still loading its dataset: %w", err)
		case <-t.C:
		}
	}
}
