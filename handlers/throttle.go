package handlers

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/time/rate"
)

// throttle lets at most perSecond messages per second into the handlers it wraps, averaged over bursts of a tenth
// of a second. Unlike watermill's ticker-based middleware.Throttle, which admits one message per tick, it admits
// a burst at once, so the projection can still commit many events together while the rate stays capped. Safe for
// concurrent use.
type throttle struct {
	limiter *rate.Limiter
}

func newThrottle(perSecond int) throttle {
	return throttle{limiter: rate.NewLimiter(rate.Limit(perSecond), max(1, perSecond/10))}
}

// Middleware waits for the message's turn; a message whose context ends first is nacked.
func (t throttle) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if err := t.limiter.Wait(msg.Context()); err != nil {
			return nil, err
		}
		return h(msg)
	}
}
