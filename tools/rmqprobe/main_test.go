package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/rlog"

	"github.com/seckill/seckill/schema/schematest"
)

func init() { rlog.SetLogLevel("fatal") } // as main does

// TestProbeAnswersForTheRealBroker: against the running NameServer and broker the full probe (registration,
// routing, one message stored) succeeds.
func TestProbeAnswersForTheRealBroker(t *testing.T) {
	namesrv := schematest.Namesrv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := probe(ctx, namesrv, schematest.Broker(), false); err != nil {
		t.Fatalf("probe of the running broker: %v", err)
	}
}

// TestProbeNamesWhatIsMissing: with no NameServer at the address the probe gives up at its deadline and says
// which step failed.
func TestProbeNamesWhatIsMissing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err = probe(ctx, addr, "127.0.0.1:1", true)
	if err == nil || !strings.Contains(err.Error(), "broker registered with the namesrv") {
		t.Fatalf("probe without a NameServer: %v, want it to name the registration step", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("probe took %s past its 2s deadline", took)
	}
}
