package httpapi

import (
	"github.com/gorilla/mux"

	"context"
	"net/http"

	"github.com/seckill/seckill/sale"
)

// kill reserves stock for a buyer: POST /seckill/kill {"userId","productId","quantity"}.
func (s *Server) kill(w http.ResponseWriter, r *http.Request, buyer int64) {
	data, err := s.reserve(r, buyer)
	s.respond(w, r, data, err)
}

func (s *Server) reserve(r *http.Request, buyer int64) (*sale.Reservation, error) {
	fields, err := decodeObject(r, "userId", "productId", "quantity")
	if err != nil {
		return nil, err
	}
	userID, err := bodyBuyer(buyer, fields)
	if err != nil {
		return nil, err
	}
	productID, err := positiveInt(fields, "productId")
	if err != nil {
		return nil, err
	}
	qty, err := positiveInt(fields, "quantity")
	if err != nil {
		qty = 0 // not a positive integer: the sale refuses it, naming its bounds
	}
	return s.deps.Sale.Reserve(r.Context(), userID, productID, qty)
}

// result answers GET /seckill/result?productId= for the request's buyer: NONE, PENDING (reserved, not yet in
// MySQL), CREATED, PAID or CANCELLED.
func (s *Server) result(w http.ResponseWriter, r *http.Request, buyer int64) {
	data, err := s.lookupResult(r, buyer)
	s.respond(w, r, data, err)
}

func (s *Server) lookupResult(r *http.Request, buyer int64) (*sale.Status, error) {
	userID, err := named(buyer)
	if err != nil {
		return nil, err
	}
	productID, err := queryPositive(r, "productId")
	if err != nil {
		return nil, err
	}
	return s.deps.Sale.Result(r.Context(), userID, productID)
}

// order answers GET /seckill/orders/{orderNo} from MySQL: 404 while the order is not (yet) projected, and for an
// order of another buyer, which answers exactly like one that does not exist.
func (s *Server) order(w http.ResponseWriter, r *http.Request, buyer int64) {
	buyer, err := named(buyer)
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	o, err := s.deps.Sale.Order(r.Context(), buyer, mux.Vars(r)["orderNo"])
	s.respond(w, r, o, err)
}

// pay answers POST /seckill/orders/{orderNo}/pay.
func (s *Server) pay(w http.ResponseWriter, r *http.Request, buyer int64) {
	s.settle(w, r, buyer, s.deps.Sale.Pay)
}

// cancel answers POST /seckill/orders/{orderNo}/cancel: the buyer gives the order up and its stock returns.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, buyer int64) {
	s.settle(w, r, buyer, s.deps.Sale.Cancel)
}

// settle pays or cancels an order of the request's buyer; an order of another buyer answers exactly like one
// that does not exist.
func (s *Server) settle(w http.ResponseWriter, r *http.Request, buyer int64, op func(ctx context.Context, buyer int64, orderNo string) (*sale.Settlement, error)) {
	buyer, err := named(buyer)
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	data, err := op(r.Context(), buyer, mux.Vars(r)["orderNo"])
	s.respond(w, r, data, err)
}

// product answers GET /seckill/products/{id} with the live stock from Redis.
func (s *Server) product(w http.ResponseWriter, r *http.Request) {
	id, err := parsePositive("id", mux.Vars(r)["id"])
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	p, err := s.deps.Sale.Product(r.Context(), id)
	s.respond(w, r, p, err)
}

// products answers GET /seckill/products: the sales that are live or upcoming, each as GET /seckill/products/{id}
// shows it, ordered by start time then id. Public and cacheable for a second.
func (s *Server) products(w http.ResponseWriter, r *http.Request) {
	ps, err := s.deps.Sale.Products(r.Context())
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	w.Header().Set("Cache-Control", "max-age=1")
	writeOK(w, ps)
}
