-- reserve.lua: the whole flash-sale reservation as one atomic step, for one buyer or for several buyers of the
-- same product at once.
-- KEYS[1] stock   KEYS[2] info   KEYS[3] buyers   KEYS[4] orders   KEYS[5] seq   KEYS[6] outbox   KEYS[7] evseq
--   (all share the hash tag {productId}, so the script runs unchanged on Redis Cluster)
-- ARGV[1] productId, then four values per buyer: userId, quantity, now (unix ms), eventId
--   (buyer i at ARGV[4i-2] .. ARGV[4i+1])
-- Returns one reply per buyer, in the order given; each is one of
--   {0}                                   unknown product (no info hash)
--   {1, orderNo, stockAfter, outboxId, eventSeq}
--                                         reserved: stock taken, buyer marked, SeckillReserved in the outbox,
--                                         stamped with the product's next event sequence number
--   {2, stock}                            sold out: stock < quantity (nothing changed)
--   {3, orderNo}                          the buyer already holds a live order for this product
--   {4, startMs}                          the sale has not started
--   {5, endMs}                            the sale has ended
-- Buyers are decided one after the other, each exactly as if the script had run for it alone after the buyers
-- before it: a buyer named twice gets {3, orderNo} the second time, and stock taken by one is gone for the next.
-- Stock is checked before it is taken, so it never goes negative. Every read and decision comes first, then the
-- writes: one DECRBY, one INCRBY per counter and one HSET per hash for all the buyers reserved, one XADD each.
local n = (#ARGV - 1) / 4
local replies = {}
local info = redis.call('HMGET', KEYS[2], 'name', 'price', 'start', 'end')
if not info[1] then
  for i = 1, n do
    replies[i] = {0}
  end
  return replies
end
local product = ARGV[1]
local startMs, endMs = tonumber(info[3]), tonumber(info[4])
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
local seq = tonumber(redis.call('GET', KEYS[5]) or '0')
local evseq = tonumber(redis.call('GET', KEYS[7]) or '0')
local taken, held, marks, orders, made = 0, {}, {}, {}, {}
for i = 1, n do
  local a = 4 * i - 2
  local user, qty, now = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if startMs > 0 and now < startMs then
    replies[i] = {4, startMs}
  elseif endMs > 0 and now >= endMs then
    replies[i] = {5, endMs}
  else
    local mine = held[user] or redis.call('HGET', KEYS[3], user)
    if mine then
      replies[i] = {3, mine}
    elseif stock < qty then
      replies[i] = {2, stock}
    else
      seq, evseq = seq + 1, evseq + 1
      local orderNo = string.format('SK%s-%08d', product, seq)
      held[user] = orderNo
      marks[#marks + 1], marks[#marks + 2] = user, orderNo
      orders[#orders + 1], orders[#orders + 2] = orderNo, '0|' .. user .. '|' .. ARGV[a + 1]
      made[#made + 1] = {i, a, orderNo, stock, stock - qty, evseq}
      stock, taken = stock - qty, taken + qty
      replies[i] = {1, orderNo, stock, '', evseq}
    end
  end
end
if #made == 0 then
  return replies
end
redis.call('DECRBY', KEYS[1], taken)
redis.call('INCRBY', KEYS[5], #made)
redis.call('INCRBY', KEYS[7], #made)
redis.call('HSET', KEYS[3], unpack(marks))
redis.call('HSET', KEYS[4], unpack(orders))
for _, m in ipairs(made) do
  local a = m[2]
  replies[m[1]][4] = redis.call('XADD', KEYS[6], '*',
    'type', 'SeckillReserved', 'id', ARGV[a + 3], 'order', m[3], 'user', ARGV[a], 'product', product,
    'qty', ARGV[a + 1], 'before', tostring(m[4]), 'after', tostring(m[5]), 'at', ARGV[a + 2],
    'name', info[1], 'price', info[2], 'seq', tostring(m[6]))
end
return replies
