-- restore.lua: loads a sale Redis lost, with what MySQL knows of its orders, in one atomic step (warm-up). Nothing
-- happens when the product is loaded (its info hash exists), so a live sale is never touched; otherwise the
-- product becomes servable (its info hash appears) together with its orders, buyer marks, order counter and event
-- sequence, so no instance can serve it half-restored.
-- KEYS[1] stock   KEYS[2] info   KEYS[3] buyers   KEYS[4] orders   KEYS[5] seq   KEYS[6] evseq   (hash tag {id})
-- ARGV[1] name  ARGV[2] price (cents)  ARGV[3] start (unix ms, 0 none)  ARGV[4] end (unix ms, 0 none)
-- ARGV[5] stock to load  ARGV[6] listed stock  ARGV[7] order counter (highest order number MySQL knows)
-- ARGV[8] event sequence to set  ARGV[9] event sequence numbers no event will carry (evskip)
-- ARGV[10..] the orders, three values each: orderNo, "state|userId|quantity", and the userId of a live order's
--   buyer ('' for a cancelled order)
-- Returns {1} restored, {0} already loaded (nothing changed).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {0}
end
for i = 10, #ARGV, 3 do
  redis.call('HSETNX', KEYS[4], ARGV[i], ARGV[i + 1])
  if ARGV[i + 2] ~= '' then
    redis.call('HSETNX', KEYS[3], ARGV[i + 2], ARGV[i])
  end
end
if tonumber(redis.call('GET', KEYS[5]) or '0') < tonumber(ARGV[7]) then
  redis.call('SET', KEYS[5], ARGV[7])
end
local info = {'name', ARGV[1], 'price', ARGV[2], 'start', ARGV[3], 'end', ARGV[4], 'listed', ARGV[6]}
if tonumber(redis.call('GET', KEYS[6]) or '0') < tonumber(ARGV[8]) then
  redis.call('SET', KEYS[6], ARGV[8])
  table.insert(info, 'evskip')
  table.insert(info, ARGV[9])
end
redis.call('HSET', KEYS[2], unpack(info))
redis.call('SET', KEYS[1], ARGV[5])
return {1}
