-- reserve.lua: the whole flash-sale reservation as one atomic step.
-- KEYS[1] stock   KEYS[2] info   KEYS[3] buyers   KEYS[4] orders   KEYS[5] seq   KEYS[6] outbox   KEYS[7] evseq
--   (all share the hash tag {productId}, so the script runs unchanged on Redis Cluster)
-- ARGV[1] userId  ARGV[2] quantity  ARGV[3] now (unix ms)  ARGV[4] eventId  ARGV[5] productId
-- Returns one of
--   {0}                                   unknown product (no info hash)
--   {1, orderNo, stockAfter, outboxId, eventSeq}
--                                         reserved: stock taken, buyer marked, SeckillReserved in the outbox,
--                                         stamped with the product's next event sequence number
--   {2, stock}                            sold out: stock < quantity (nothing changed)
--   {3, orderNo}                          the buyer already holds a live order for this product
--   {4, startMs}                          the sale has not started
--   {5, endMs}                            the sale has ended
-- Stock is checked before it is decremented, so it never goes negative.
local info = redis.call('HMGET', KEYS[2], 'name', 'price', 'start', 'end')
if not info[1] then
  return {0}
end
local now = tonumber(ARGV[3])
local startMs, endMs = tonumber(info[3]), tonumber(info[4])
if startMs > 0 and now < startMs then
  return {4, startMs}
end
if endMs > 0 and now >= endMs then
  return {5, endMs}
end
local held = redis.call('HGET', KEYS[3], ARGV[1])
if held then
  return {3, held}
end
local qty = tonumber(ARGV[2])
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
if stock < qty then
  return {2, stock}
end
local after = redis.call('DECRBY', KEYS[1], qty)
local orderNo = string.format('SK%s-%08d', ARGV[5], redis.call('INCR', KEYS[5]))
local evseq = redis.call('INCR', KEYS[7])
redis.call('HSET', KEYS[3], ARGV[1], orderNo)
redis.call('HSET', KEYS[4], orderNo, '0|' .. ARGV[1] .. '|' .. ARGV[2])
local id = redis.call('XADD', KEYS[6], '*',
  'type', 'SeckillReserved', 'id', ARGV[4], 'order', orderNo, 'user', ARGV[1], 'product', ARGV[5],
  'qty', ARGV[2], 'before', tostring(stock), 'after', tostring(after), 'at', ARGV[3],
  'name', info[1], 'price', info[2], 'seq', tostring(evseq))
return {1, orderNo, after, id, evseq}
