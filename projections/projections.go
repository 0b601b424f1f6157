// Package projections turns events into the MySQL tables of the contract (tb_seckill_product, tb_seckill_order,
// tb_stock_log, tb_user_seckill) next to the event store tb_event.
//
// There is one apply path: Apply (or an Applier, which caches prepared statements over one transaction) is what
// the live Store and seckill replay both run, so replayed tables equal live ones. Every column Apply writes is a
// function of the events (times come from the events, never from NOW()), stock changes are deltas with a guard,
// and update_time is the latest event time that touched the row, so the result does not depend on the order of
// unrelated events. The package never logs: it returns errors.
package projections

import (
	"errors"
)

// ErrRejected marks an event that is a fact the projection cannot accept: a reservation of an unknown product,
// one that would take the MySQL stock below zero, a second live order of one buyer for one product, a payment of
// a cancelled order, a product listed twice. Apply leaves no row behind when it returns it; the caller records the
// event in tb_event anyway and compensates (the handlers cancel the order in Redis). Retrying does not help.
var ErrRejected = errors.New("event rejected by projection")

// ErrNotYetApplied marks an event that depends on one not applied yet: a payment or cancellation whose
// reservation has not reached MySQL (events of one order may travel on different queues). Apply leaves no row
// behind when it returns it, and the event must not be recorded: retrying it later applies it.
var ErrNotYetApplied = errors.New("event depends on an event not yet applied")

// ErrConflict marks the rejections of a reservation that a cancellation not yet applied would explain: the buyer
// still holds a row for the product, or the MySQL stock is below the quantity. Redis, which arbitrates, accepted
// the reservation, so such a conflict is first taken for a cancellation in flight: Store returns ErrNotYetApplied
// for it while the event is younger than the store's conflict grace, and rejects it (ErrRejected, which it also
// wraps) afterwards. Replay, which follows the live commit order, meets it only for events that live rejected.
var ErrConflict = errors.New("conflicts with the projected state")
