-- Reads a cached value and marks it as just used. ARGV: base ('{prefix}:cache:<name>:'), key.
-- Returns {value, milliseconds left}, or false when there is none.
local base, key = ARGV[1], ARGV[2]
local v = redis.call('GET', base .. 'v:' .. key)
if not v then
  redis.call('ZREM', base .. 'lru', key)
  redis.call('ZREM', base .. 'exp', key)
  return false
end
-- Uses are ordered by a counter, not the clock: two in one millisecond still have an order.
redis.call('ZADD', base .. 'lru', 'XX', redis.call('INCR', base .. 'uses'), key)
return {v, redis.call('PTTL', base .. 'v:' .. key)}
