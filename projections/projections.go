// Package projections turns events into the MySQL tables of the contract (tb_seckill_product, tb_seckill_order,
// tb_stock_log, tb_user_seckill) next to the event store tb_event.
//
// # Redis decides, MySQL records
//
// Every reservation, payment and cancellation was decided by a Redis script and told to the buyer: it is a fact.
// The projection never decides again, never rejects a fact for reasons of stock or arrival order, and never waits
// for another event. Events of one product reach MySQL in any order (four queues, a retry topic with delays of
// seconds to hours, redelivery, a replay): a reservation that reused a unit freed by a cancellation can arrive
// before that cancellation, a payment before its reservation. So the tables are built from upserts whose result
// does not depend on the order in which events are applied, nor on how they are split into transactions; the same
// set of events always gives the same rows. That is what lets the live consumers, the bulk path of a batch and
// seckill replay be one engine (Apply) with no per-path rule.
//
// The tool is a per-product sequence number: each script takes seckill:{id}:evseq with INCR in the same atomic
// step that decides the event and stamps it on the event (Seq). Then:
//
//   - Product stock is the stockAfter (the Redis stock after the event) of the stock change with the highest seq:
//     SET stock = IF(seq > stock_seq, stockAfter, stock), stock_seq = GREATEST(stock_seq, seq). A value Redis
//     had is never negative, so neither is stock at any point. version is +1 per stock change applied (a sum,
//     so commutative) and equals the number of stock logs. events_applied counts the sequenced events applied,
//     which the audit compares with Redis's evseq to count what is still on its way.
//   - Stock logs come from the events' own values: the deduct log from the reservation's stockBefore/stockAfter,
//     the rollback log from the cancellation's; never from MySQL's current stock.
//   - An order row is upserted by each of its events. The reservation writes it with status 0 and never changes
//     the status of an existing row; a payment or cancellation upserts it with status 1 or -1 and, as each
//     carries the order's product name, price and quantity, creates the whole row if the reservation has not
//     arrived (the reservation later sets create_time). Status is the one of the highest seq (status_seq), so
//     even two settlements of one order, which only a Redis that lost its data could decide, end the same way.
//   - The buyer mark (UNIQUE user+product) names the buyer's live order with the highest order number (Redis
//     numbers a product's orders in the order it reserves them, and lets a buyer hold one live order at a time):
//     a reservation sets it unless its order is already cancelled or a later order holds it (order_seq); a
//     cancellation deletes it only where it still names that order. Whatever the order, once every event of a
//     buyer is applied the mark names the buyer's live order, or nothing.
//
// Each rule is an idempotent max or a commutative sum over the events applied, so a batch is written with a few
// multi-row statements and no read but the lock of its product rows (Apply). Duplicates never reach Apply: Store
// records each event id once in tb_event, in the same transaction as its effect.
//
// # What MySQL cannot hold
//
// The only rejection left is an event of a product MySQL has no row of (possible only after MySQL lost data) and
// a second listing of one product. A rejected event is recorded in tb_event with no effect (Rejected), counted by
// the consumers' metrics, and reported by the audit (Report.Rejected); nothing compensates it, because the order
// is the buyer's: an operator restores the product and replays. Likewise a second live order of one buyer
// (which only a Redis that lost its data can decide) is recorded as decided, the mark naming the later one; the
// invariant checker reports it (one_per_user) rather than the projection hiding it.
//
// # Events of the first release
//
// Payloads without seq (in an old tb_event, or in flight at the upgrade) still apply. Their stock is a delta on
// legacy_stock (listed stock plus every such delta, in any order, possibly below zero for a moment), and stock
// shows GREATEST(legacy_stock, 0) while no sequenced event has been applied to the product; once one has, stock
// is its stockAfter, which already counts every first-release event (Redis decided those before any sequenced
// one), and first-release deltas no longer show. A first-release settlement settles only an order still
// awaiting payment; one that arrives before its reservation creates the row without name, price or quantity
// (a payment) and the reservation fills them in. The rollback log of a first-release cancellation, which carries
// no Redis stock, takes legacy_stock before and after its delta: that one column depends on arrival order, and
// replay follows tb_event's, which is the live commit order.
//
// The package never logs: it returns errors.
package projections
