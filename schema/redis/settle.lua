-- settle.lua: moves an order awaiting payment to paid or cancelled, exactly once.
-- KEYS[1] stock   KEYS[2] buyers   KEYS[3] orders   KEYS[4] outbox   KEYS[5] info   KEYS[6] evseq
--   (hash tag {productId})
-- ARGV[1] orderNo  ARGV[2] target state ('1' paid, '-1' cancelled)  ARGV[3] now (unix ms)  ARGV[4] eventId
-- ARGV[5] productId  ARGV[6] cancel reason (ignored when paying)
-- Returns one of
--   {0}                  unknown order
--   {1, stockAfter, outboxId, userId, quantity, eventSeq, stockBefore, name, price}
--                        settled: the event, stamped with the product's next event sequence number and carrying
--                        the order's product name, price and quantity, is in the outbox; a cancellation returned
--                        the stock (stockBefore -> stockAfter) and the buyer mark
--   {2, state}           not awaiting payment any more (state '1' paid or '-1' cancelled): nothing changed
-- Pay, cancel and timeout racing on one order resolve here: only the first finds state '0'.
local rec = redis.call('HGET', KEYS[3], ARGV[1])
if not rec then
  return {0}
end
local state, user, qty = string.match(rec, '^(-?%d+)|(%d+)|(%d+)$')
if state ~= '0' then
  return {2, state}
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. '|' .. user .. '|' .. qty)
local info = redis.call('HMGET', KEYS[5], 'name', 'price')
local name, price = info[1] or '', info[2] or '0'
local evseq = redis.call('INCR', KEYS[6])
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = before
local id
if ARGV[2] == '1' then
  id = redis.call('XADD', KEYS[4], '*', 'type', 'SeckillOrderPaid', 'id', ARGV[4], 'order', ARGV[1], 'user', user,
    'product', ARGV[5], 'qty', qty, 'at', ARGV[3], 'seq', tostring(evseq), 'name', name, 'price', price)
else
  after = redis.call('INCRBY', KEYS[1], qty)
  if redis.call('HGET', KEYS[2], user) == ARGV[1] then
    redis.call('HDEL', KEYS[2], user)
  end
  id = redis.call('XADD', KEYS[4], '*', 'type', 'SeckillOrderCancelled', 'id', ARGV[4], 'order', ARGV[1], 'user', user,
    'product', ARGV[5], 'qty', qty, 'reason', ARGV[6], 'at', ARGV[3], 'seq', tostring(evseq),
    'before', tostring(before), 'after', tostring(after), 'name', name, 'price', price)
end
return {1, after, id, user, qty, evseq, before, name, price}
