package main

import (
	"fmt"
	"time"

	"github.com/seckill/seckill/benchreport"
	"github.com/seckill/seckill/loadgen"
)

// writeReport writes the -report page of a finished bench.
func writeReport(name, url string, r loadgen.Report, started time.Time) error {
	title := "seckill bench: sale of product " + fmt.Sprint(r.ProductID)
	if r.Mode != "sale" {
		title = "seckill bench: " + r.Mode
	}
	return benchreport.WriteFile(name, benchreport.Run{Title: title, Started: started, Mode: r.Mode, URL: url,
		ProductID: r.ProductID, Stock: r.Stock, Requests: r.Requests, Conns: r.Conns, Rate: r.Rate, Seconds: r.Seconds,
		RPS: r.RPS, LatencyMs: r.LatencyMs, Codes: r.Codes, Errors: r.Errors, SoldOutAfter: r.SoldOutAfter,
		DrainedAfter: r.DrainedAfter, InvariantsOK: r.InvariantsOK, Invariants: r.Invariants, Samples: r.Samples})
}
