package httpapi

import (
	"errors"
	"net/http"

	"github.com/seckill/seckill/sale"
)

// saleStatus is the HTTP status of each kind of sale error.
var saleStatus = []struct {
	kind   error
	status int
}{
	{sale.ErrInvalid, http.StatusBadRequest},
	{sale.ErrNotFound, http.StatusNotFound},
	{sale.ErrNotStarted, http.StatusForbidden},
	{sale.ErrEnded, http.StatusForbidden},
	{sale.ErrSoldOut, http.StatusGone},
	{sale.ErrAlreadyBought, http.StatusConflict},
	{sale.ErrRateLimited, http.StatusTooManyRequests},
	{sale.ErrNotSettleable, http.StatusConflict},
	{sale.ErrAlreadyListed, http.StatusConflict},
	{sale.ErrUnavailable, http.StatusServiceUnavailable},
	{sale.ErrOutcomeUnknown, http.StatusServiceUnavailable},
}

// errorStatus is the one place where an error becomes an HTTP status and the message the client reads: the
// HTTP tier's own answers (bad bodies, identity), then the sale's kinds. Anything else is a 500 with a generic
// message (the caller logs it). The errors handlers return are matched without errors.As first: the buy path's
// refusals cost no allocation here.
func errorStatus(err error) (int, string) {
	switch e := err.(type) {
	case *apiError:
		return e.status, e.msg
	case *sale.Error:
		return saleErrorStatus(e)
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.msg
	}
	var se *sale.Error
	if errors.As(err, &se) {
		return saleErrorStatus(se)
	}
	return http.StatusInternalServerError, "internal error"
}

func saleErrorStatus(e *sale.Error) (int, string) {
	for _, k := range saleStatus {
		if e.Kind == k.kind {
			return k.status, e.Msg
		}
	}
	return http.StatusInternalServerError, "internal error"
}
