package httpapi

import (
	"github.com/gorilla/mux"

	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/seckill/seckill/events"
	"github.com/seckill/seckill/sale"
)

// admin guards h with the bearer token; without a configured token every admin call is 401.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if s.cfg.AdminToken == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
			writeJSON(w, http.StatusUnauthorized, "admin endpoints need Authorization: Bearer <admin token>", nil)
			return
		}
		h(w, r)
	}
}

// Limits of a listing.
const (
	maxProductID = 999_999_999_999
	maxStock     = 100_000_000
	maxName      = 128
)

// listProduct answers POST /admin/products (sale.Service.List): the ProductListed event and the product row in
// MySQL, then the stock in Redis. An id already listed (in MySQL or in Redis) is 409 and changes nothing.
func (s *Server) listProduct(w http.ResponseWriter, r *http.Request) {
	e, err := decodeListing(r)
	if err == nil {
		err = s.deps.Sale.List(r.Context(), e)
	}
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	writeJSON(w, http.StatusCreated, "listed", sale.Product{ID: e.ProductID, Name: e.Name, Price: e.Price,
		Stock: e.Stock, StartTime: e.StartTime, EndTime: e.EndTime})
}

func decodeListing(r *http.Request) (*events.ProductListed, error) {
	fields, err := decodeObject(r, "id", "name", "price", "stock", "startTime", "endTime")
	if err != nil {
		return nil, err
	}
	e := &events.ProductListed{}
	if e.ProductID, err = positiveInt(fields, "id"); err != nil {
		return nil, err
	}
	if e.ProductID > maxProductID {
		return nil, badRequest("id: at most %d", maxProductID)
	}
	if err := json.Unmarshal(fields["name"], &e.Name); err != nil || strings.TrimSpace(e.Name) == "" || len(e.Name) > maxName {
		return nil, badRequest("name: must be a non-empty string of at most %d bytes", maxName)
	}
	raw, ok := fields["price"]
	if !ok {
		return nil, badRequest("price: missing")
	}
	if err := e.Price.UnmarshalJSON(raw); err != nil || e.Price <= 0 || raw[0] == '"' {
		return nil, badRequest("price: must be a positive number with at most two decimals")
	}
	raw, ok = fields["stock"]
	if !ok {
		return nil, badRequest("stock: missing")
	}
	if e.Stock, err = strconv.ParseInt(string(raw), 10, 64); err != nil || e.Stock < 0 || e.Stock > maxStock {
		return nil, badRequest("stock: must be an integer from 0 to %d", maxStock)
	}
	for name, dst := range map[string]**time.Time{"startTime": &e.StartTime, "endTime": &e.EndTime} {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			continue
		}
		var v string
		t, err := time.Time{}, json.Unmarshal(raw, &v)
		if err == nil {
			t, err = time.Parse(time.RFC3339, v)
		}
		if err != nil {
			return nil, badRequest("%s: must be an RFC 3339 time such as 2026-11-23T20:00:00+08:00", name)
		}
		t = t.UTC().Truncate(time.Millisecond)
		*dst = &t
	}
	if e.StartTime != nil && e.EndTime != nil && !e.EndTime.After(*e.StartTime) {
		return nil, badRequest("endTime: must be after startTime")
	}
	return e, nil
}

// audit answers GET /admin/products/{id}/audit.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	id, err := parsePositive("id", mux.Vars(r)["id"])
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	a, err := s.deps.Sale.Audit(r.Context(), id)
	s.respond(w, r, a, err)
}

// board answers GET /admin/products: the most recently listed products with their figures. It only reads.
func (s *Server) board(w http.ResponseWriter, r *http.Request) {
	b, err := s.deps.Sale.Board(r.Context())
	s.respond(w, r, b, err)
}
