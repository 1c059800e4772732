-- Reads a cached value and marks it as just used. ARGV: base ('{prefix}:cache:<name>:'), key.
-- Returns {value, milliseconds left}, or false when there is none.
local base, key = ARGV[1], ARGV[2]
local v = redis.call('GET', base .. 'v:' .. key)
if not v then
  redis.call('ZREM', base .. 'lru', key)
  redis.call('ZREM', base .. 'exp', key)
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', base .. 'lru', 'XX', now, key)
return {v, redis.call('PTTL', base .. 'v:' .. key)}
