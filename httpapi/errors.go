package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/seckill/seckill/schema"
)

// scriptFailure is a Reserve or Settle call that brought no decision. The buyer is told either that nothing
// happened (the script certainly did not run) or that the outcome is unknown and GET /seckill/result tells it.
type scriptFailure struct {
	op      string // what may have happened: "reservation", "payment", "cancellation"
	nothing string // what the buyer is told when the script did not run: "nothing was reserved"
	err     error  // wrapped by schema.ScriptCallError
}

func (e *scriptFailure) Error() string { return fmt.Sprintf("%s: %v", e.op, e.err) }
func (e *scriptFailure) Unwrap() error { return e.err }

func (e *scriptFailure) unknown() bool { return !errors.Is(e.err, schema.ErrScriptNotRun) }

// errorStatus is the one place where an error becomes an HTTP status and the message the client reads. Anything
// it does not know is a 500 with a generic message (the caller logs it).
func errorStatus(err error) (int, string) {
	if e, ok := asAPIError(err); ok {
		return e.status, e.msg
	}
	var sf *scriptFailure
	if errors.As(err, &sf) {
		if sf.unknown() {
			return http.StatusServiceUnavailable, fmt.Sprintf("redis did not answer: the outcome of the %s is "+
				"unknown (it may have been made); GET /seckill/result tells it", sf.op)
		}
		return http.StatusServiceUnavailable, fmt.Sprintf("redis unavailable: %s, try again", sf.nothing)
	}
	return http.StatusInternalServerError, "internal error"
}
