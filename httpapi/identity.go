package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/seckill/seckill/buyerauth"
)

// BuyerVerifier names the buyer of an Authorization header value (*buyerauth.Verifier). Its errors wrap the
// buyerauth sentinels.
type BuyerVerifier interface {
	Buyer(authorization string) (int64, error)
}

// buyerHandler serves a buyer endpoint for the request's buyer; 0 means none was named (trusted mode without a
// userId), which only kill can settle from its body.
type buyerHandler func(w http.ResponseWriter, r *http.Request, buyer int64)

// buyer runs h for the request's buyer, settled before anything is read or changed: the `sub` of a verified token,
// or in trusted mode the userId query parameter (kill takes the body's userId instead). A userId query parameter
// that names another buyer than the token is 403.
func (s *Server) buyer(h buyerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var id int64
		if !s.cfg.TrustedBuyers {
			var err error
			if id, err = s.deps.Buyers.Buyer(r.Header.Get("Authorization")); err != nil {
				unauthorized(w, err)
				return
			}
		}
		if r.URL.RawQuery != "" && r.URL.Query().Has("userId") {
			q, err := queryPositive(r, "userId")
			if err == nil && id != 0 && q != id {
				err = fail(http.StatusForbidden, "userId: %d is not the signed-in buyer", q)
			}
			if err != nil {
				s.respond(w, r, nil, err)
				return
			}
			id = q
		}
		h(w, r, id)
	}
}

// named returns the buyer a request acts for; none (trusted mode without a userId) is 400.
func named(buyer int64) (int64, error) {
	if buyer != 0 {
		return buyer, nil
	}
	return 0, badRequest("userId: missing")
}

// bodyBuyer reconciles a kill body's optional userId with the request's buyer (signedIn): it must equal the
// token's buyer (403 otherwise), and in trusted mode it is the buyer.
func bodyBuyer(signedIn int64, fields map[string]json.RawMessage) (int64, error) {
	raw, ok := fields["userId"]
	if !ok {
		return named(signedIn)
	}
	id, err := parsePositive("userId", string(raw))
	if err != nil {
		return 0, err
	}
	if signedIn != 0 && id != signedIn {
		return 0, fail(http.StatusForbidden, "userId: %d is not the signed-in buyer", id)
	}
	return id, nil
}

// unauthorized answers 401 with the RFC 6750 challenge: no error code when no bearer token came, invalid_token
// with a fixed description otherwise.
func unauthorized(w http.ResponseWriter, err error) {
	challenge := `Bearer realm="seckill"`
	msg := "buyer endpoints need Authorization: Bearer <buyer token>"
	if !errors.Is(err, buyerauth.ErrNoToken) {
		why := "invalid token"
		for _, e := range []error{buyerauth.ErrTokenTooLarge, buyerauth.ErrExpired, buyerauth.ErrNotYetValid, buyerauth.ErrBadSubject} {
			if errors.Is(err, e) {
				why = e.Error()
			}
		}
		challenge += `, error="invalid_token", error_description="` + why + `"`
		msg = "buyer token refused: " + why
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSON(w, http.StatusUnauthorized, msg, nil)
}
