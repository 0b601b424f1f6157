// Command gen writes the dashboard of package dashboards to the file named by its argument (go generate runs it).
package main

import (
	"fmt"
	"os"

	"github.com/seckill/seckill/deploy/dashboards"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen FILE.json")
		os.Exit(2)
	}
	out, err := dashboards.JSON()
	if err == nil {
		err = os.WriteFile(os.Args[1], out, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}
