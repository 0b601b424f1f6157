package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes lists every endpoint in one place, on the standard library's ServeMux (Go 1.22 patterns: a GET pattern
// also serves HEAD). Each API endpoint is counted and timed under its route name (observe); /metrics, the pages
// and the static files are not.
func (s *Server) routes() (*http.ServeMux, map[string]*route) {
	mux := http.NewServeMux()
	counted := map[string]*route{}
	handle := func(method, path, name string, h http.HandlerFunc) {
		pattern := method + " " + path
		mux.Handle(pattern, h)
		counted[pattern] = s.metrics.route(name)
	}
	handle(http.MethodPost, "/seckill/kill", "kill", s.buyer(s.kill))
	handle(http.MethodGet, "/seckill/result", "result", s.buyer(s.result))
	handle(http.MethodGet, "/seckill/orders/{orderNo}", "order", s.buyer(s.order))
	handle(http.MethodPost, "/seckill/orders/{orderNo}/pay", "pay", s.buyer(s.pay))
	handle(http.MethodPost, "/seckill/orders/{orderNo}/cancel", "cancel", s.buyer(s.cancel))
	handle(http.MethodGet, "/seckill/products", "products", s.products)
	handle(http.MethodGet, "/seckill/products/{id}", "product", s.product)
	handle(http.MethodPost, "/admin/products", "admin_list_product", s.admin(s.listProduct))
	handle(http.MethodGet, "/admin/products/{id}/audit", "admin_audit", s.admin(s.audit))
	handle(http.MethodGet, "/admin/products", "admin_board", s.admin(s.board))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{}))
	handle(http.MethodGet, "/healthz", "healthz", s.healthz)
	handle(http.MethodGet, "/readyz", "readyz", s.readyz)
	if p := s.deps.Pages; p != nil {
		mux.Handle("GET /{$}", p)
		mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
		mux.Handle("GET /admin/{$}", p)
		mux.Handle("GET /static/", p)
	}
	if s.deps.DevTokens != nil {
		handle(http.MethodPost, "/dev/token", "dev_token", s.devToken)
	}
	return mux, counted
}
