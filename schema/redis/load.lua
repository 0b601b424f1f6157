-- load.lua: loads a product's sale into Redis unless it is already there, so live stock is never overwritten, and
-- registers it in the set of loaded products (which the outbox relay walks) in the same step, so a product is
-- never loaded without being registered.
-- KEYS[1] stock   KEYS[2] info   (hash tag {productId})   KEYS[3] seckill:products
--   KEYS[3] is the one key shared by every product: on Redis Cluster it lies in another slot than the product's
--   keys, and this script (unlike reserve.lua and settle.lua) would have to be split there.
-- ARGV[1] name  ARGV[2] price (cents)  ARGV[3] start (unix ms, 0 none)  ARGV[4] end (unix ms, 0 none)
-- ARGV[5] stock to load  ARGV[6] listed stock  ARGV[7] productId
-- Returns {1} loaded, {0} already loaded (nothing changed but the registration).
redis.call('SADD', KEYS[3], ARGV[7])
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {0}
end
redis.call('HSET', KEYS[2], 'name', ARGV[1], 'price', ARGV[2], 'start', ARGV[3], 'end', ARGV[4], 'listed', ARGV[6])
redis.call('SET', KEYS[1], ARGV[5])
return {1}
