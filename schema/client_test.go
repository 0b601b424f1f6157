package schema_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/schema"
)

// TestScriptCallErrorSaysWhetherTheScriptRan pins the classification: only errors that prove the command never
// ran say so; everything else is unknown; an error already classified stays as it is.
func TestScriptCallErrorSaysWhetherTheScriptRan(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	read := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	cases := map[string]struct {
		err    error
		notRun bool
	}{
		"dial refused":               {dial, true},
		"pool timeout":               {redis.ErrPoolTimeout, true},
		"client closed":              {redis.ErrClosed, true},
		"loading":                    {redisError("LOADING Redis is loading the dataset in memory"), true},
		"busy":                       {redisError("BUSY Redis is busy running a script"), true},
		"out of memory":              {redisError("OOM command not allowed when used memory > 'maxmemory'."), true},
		"moved (cluster)":            {redisError("MOVED 3999 127.0.0.1:17002"), true},
		"ask (cluster)":              {redisError("ASK 3999 127.0.0.1:17002"), true},
		"cluster down":               {redisError("CLUSTERDOWN The cluster is down"), true},
		"try again (cluster)":        {redisError("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		"connection reset":           {read, false},
		"eof":                        {io.EOF, false},
		"deadline":                   {context.DeadlineExceeded, false},
		"busy group (not a refusal)": {redisError("BUSYGROUP Consumer Group name already exists"), false},
		"script runtime error":       {redisError("ERR user_script:12: Script attempted to access nonexistent global"), false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := schema.ScriptCallError(fmt.Errorf("reserve product 1: %w", c.err))
			if got := errors.Is(err, schema.ErrScriptNotRun); got != c.notRun {
				t.Fatalf("not run = %v, want %v (%v)", got, c.notRun, err)
			}
			if errors.Is(err, schema.ErrScriptOutcomeUnknown) == c.notRun {
				t.Fatalf("unknown = %v, want %v", !c.notRun, c.notRun)
			}
			if !errors.Is(err, c.err) {
				t.Fatal("the cause is not kept")
			}
			if again := schema.ScriptCallError(err); again != err {
				t.Fatalf("classified twice: %v, want it unchanged: %v", again, err)
			}
		})
	}
}

type redisError string

func (e redisError) Error() string { return string(e) }
func (redisError) RedisError()     {}
