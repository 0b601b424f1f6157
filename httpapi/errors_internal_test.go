package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/seckill/seckill/sale"
)

// TestEverySaleErrorKindHasItsStatus is the contract's table of refusals: each kind of sale error answers its
// status with the sale's message, also when wrapped; anything else is a 500 that tells the client nothing.
func TestEverySaleErrorKindHasItsStatus(t *testing.T) {
	want := map[error]int{
		sale.ErrInvalid: 400, sale.ErrNotFound: 404, sale.ErrNotStarted: 403, sale.ErrEnded: 403, sale.ErrSoldOut: 410,
		sale.ErrAlreadyBought: 409, sale.ErrRateLimited: 429, sale.ErrNotSettleable: 409, sale.ErrAlreadyListed: 409,
		sale.ErrUnavailable: 503, sale.ErrOutcomeUnknown: 503,
	}
	for kind, status := range want {
		for _, err := range []error{&sale.Error{Kind: kind, Msg: "why"}, fmt.Errorf("context: %w", &sale.Error{Kind: kind, Msg: "why"})} {
			if got, msg := errorStatus(err); got != status || msg != "why" {
				t.Errorf("%v: %d %q, want %d %q", err, got, msg, status, "why")
			}
		}
	}
	if got, msg := errorStatus(errors.New("disk on fire")); got != http.StatusInternalServerError || msg != "internal error" {
		t.Errorf("an unknown error: %d %q", got, msg)
	}
}
