// Command bareserver is the ceiling `make bench` compares seckill with: a bare net/http handler that answers
// every request with a fixed JSON body shaped like a successful POST /seckill/kill, doing nothing else.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
)

var body = []byte(`{"code":200,"message":"ok","data":{"orderNo":"SK1-00000001","userId":1002,"productId":1,"quantity":1,"remainingStock":9999}}` + "\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	flag.Parse()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	})
	if err := http.ListenAndServe(*addr, h); err != nil {
		fmt.Fprintln(os.Stderr, "bareserver:", err)
		os.Exit(1)
	}
}
