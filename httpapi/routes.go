package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes lists every endpoint in one place. It returns the router and the buy endpoint's handler, which
// ServeHTTP also runs directly (see there).
func (s *Server) routes() (http.Handler, http.Handler) {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, "no such endpoint", nil)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, "method not allowed", nil)
	})
	handle := func(method, path, route string, h http.HandlerFunc) http.Handler {
		counted := s.instrument(route, h)
		r.Handle(path, counted).Methods(method)
		return counted
	}
	kill := handle(http.MethodPost, killPath, "kill", s.buyer(s.kill))
	handle(http.MethodGet, "/seckill/result", "result", s.buyer(s.result))
	handle(http.MethodGet, "/seckill/orders/{orderNo}", "order", s.buyer(s.order))
	handle(http.MethodPost, "/seckill/orders/{orderNo}/pay", "pay", s.buyer(s.pay))
	handle(http.MethodPost, "/seckill/orders/{orderNo}/cancel", "cancel", s.buyer(s.cancel))
	handle(http.MethodGet, "/seckill/products", "products", s.products)
	handle(http.MethodGet, "/seckill/products/{id}", "product", s.product)
	handle(http.MethodPost, "/admin/products", "admin_list_product", s.admin(s.listProduct))
	handle(http.MethodGet, "/admin/products/{id}/audit", "admin_audit", s.admin(s.audit))
	handle(http.MethodGet, "/admin/products", "admin_board", s.admin(s.board))
	r.Handle("/metrics", promhttp.HandlerFor(s.deps.Gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	handle(http.MethodGet, "/healthz", "healthz", s.healthz)
	handle(http.MethodGet, "/readyz", "readyz", s.readyz)
	if p := s.deps.Pages; p != nil {
		r.Handle("/", p).Methods(http.MethodGet, http.MethodHead)
		r.Handle("/admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently)).Methods(http.MethodGet)
		r.Handle("/admin/", p).Methods(http.MethodGet, http.MethodHead)
		r.PathPrefix("/static/").Handler(p).Methods(http.MethodGet, http.MethodHead)
	}
	if s.deps.DevTokens != nil {
		handle(http.MethodPost, "/dev/token", "dev_token", s.devToken)
	}
	return r, kill
}

// killPath is the buy endpoint's path.
const killPath = "/seckill/kill"
