package handlers

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"golang.org/x/time/rate"
)

// throttleTick is the step on which messages that waited for the rate are let through together: a tenth of a
// second, the span of the burst.
const throttleTick = 100 * time.Millisecond

// throttle lets at most perSecond messages per second into the handlers it wraps, averaged over bursts of a tenth
// of a second. Unlike watermill's ticker-based middleware.Throttle, which admits one message per tick, it admits
// a burst at once, so the projection can still commit many events together while the rate stays capped. Safe for
// concurrent use.
//
// A message that finds no token waits for its turn and is then let through at the end of the throttleTick in
// which its turn falls, with every other message whose turn falls in that tick. A limiter alone would release
// the waiting messages one by one (one per millisecond at 1,000/s), each reaching the projection alone and paying a
// MySQL commit of its own: measured at the default 1,000/s, 581 µs of `seckill consume` CPU per projected event
// (79 µs unthrottled); released a tenth of a second at a time, 141 µs (268 µs with 20 ms ticks, 169 µs with
// 50 ms). The rate is the same (each message still takes its token) and none waits more than a tick longer.
type throttle struct {
	limiter *rate.Limiter
	now     func() time.Time
}

func newThrottle(perSecond int) throttle {
	return throttle{limiter: rate.NewLimiter(rate.Limit(perSecond), max(1, perSecond/10)), now: time.Now}
}

// Middleware waits for the message's turn; a message whose context ends first is nacked and gives its token back.
func (t throttle) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		now := t.now()
		r := t.limiter.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			turn := now.Add(d)
			release := turn.Truncate(throttleTick)
			if release.Before(turn) {
				release = release.Add(throttleTick)
			}
			timer := time.NewTimer(release.Sub(now))
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-msg.Context().Done():
				r.CancelAt(t.now())
				return nil, msg.Context().Err()
			}
		}
		return h(msg)
	}
}
