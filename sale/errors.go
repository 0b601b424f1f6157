package sale

import (
	"errors"
	"fmt"

	"github.com/seckill/seckill/schema"
)

// The kinds of error the sale decides. Every error an operation returns for one of these reasons is an *Error of
// that kind: errors.Is(err, ErrSoldOut) tells the kind, err.Error() is the message a client reads.
var (
	// ErrInvalid: the input breaks a rule of the sale (a quantity above MaxPerUser).
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: no such product or order, or an order of another buyer (the same answer).
	ErrNotFound = errors.New("not found")
	// ErrNotStarted: the product's sale has not started.
	ErrNotStarted = errors.New("not started")
	// ErrEnded: the product's sale has ended.
	ErrEnded = errors.New("ended")
	// ErrSoldOut: not enough stock left.
	ErrSoldOut = errors.New("sold out")
	// ErrAlreadyBought: the buyer already holds an order of the product.
	ErrAlreadyBought = errors.New("already bought")
	// ErrRateLimited: the buyer sends buy requests faster than Config.RatePerUser.
	ErrRateLimited = errors.New("rate limited")
	// ErrNotSettleable: the order is already paid or cancelled.
	ErrNotSettleable = errors.New("not settleable")
	// ErrAlreadyListed: the product id is listed already; nothing changed.
	ErrAlreadyListed = errors.New("already listed")
	// ErrUnavailable: Redis or MySQL did not answer and nothing happened; trying again is safe.
	ErrUnavailable = errors.New("unavailable")
	// ErrOutcomeUnknown: Redis did not answer after the script was sent; it may have run. Reading the state (Result)
	// tells.
	ErrOutcomeUnknown = errors.New("outcome unknown")
)

// Error is an error of one of the kinds above, with the message a client reads and, when a store failed, the
// cause (for the logs, never shown to clients).
type Error struct {
	Kind  error
	Msg   string
	Cause error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind, so errors.Is(err, ErrSoldOut) tells it. The cause stays out of the chain: what the
// sale reports is the kind, and unwrapping one error allocates nothing.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// unavailable is a store failure that changed nothing: the client is told "<store> unavailable" and what to do.
func unavailable(cause error, format string, args ...any) error {
	return &Error{Kind: ErrUnavailable, Msg: fmt.Sprintf(format, args...), Cause: cause}
}

// scriptFailure is a Reserve or Settle call that brought no decision. The buyer is told either that nothing
// happened (the script certainly did not run: ErrUnavailable) or that the outcome of op ("reservation",
// "payment", "cancellation") is unknown and GET /seckill/result tells it (ErrOutcomeUnknown).
func scriptFailure(err error, op, nothing string) *Error {
	err = schema.ScriptCallError(err)
	if errors.Is(err, schema.ErrScriptNotRun) {
		return &Error{Kind: ErrUnavailable, Msg: "redis unavailable: " + nothing + ", try again", Cause: err}
	}
	return &Error{Kind: ErrOutcomeUnknown, Cause: err, Msg: "redis did not answer: the outcome of the " + op +
		" is unknown (it may have been made); GET /seckill/result tells it"}
}
