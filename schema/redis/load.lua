-- load.lua: loads a product's sale into Redis unless it is already there, so live stock is never overwritten.
-- LoadSale registers the product in seckill:products (which the outbox relay walks) before it runs this script, in
-- a call of its own: that set lies in another Redis Cluster slot than the product's keys, and a script touches one
-- slot only.
-- KEYS[1] stock   KEYS[2] info   (hash tag {productId})
-- ARGV[1] name  ARGV[2] price (cents)  ARGV[3] start (unix ms, 0 none)  ARGV[4] end (unix ms, 0 none)
-- ARGV[5] stock to load  ARGV[6] listed stock
-- Returns {1} loaded, {0} already loaded (nothing changed).
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {0}
end
redis.call('HSET', KEYS[2], 'name', ARGV[1], 'price', ARGV[2], 'start', ARGV[3], 'end', ARGV[4], 'listed', ARGV[6])
redis.call('SET', KEYS[1], ARGV[5])
return {1}
