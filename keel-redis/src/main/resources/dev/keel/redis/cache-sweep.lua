-- Forgets up to 1,000 expired keys and returns how many keys the cache holds. ARGV: base.
local base = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, k in ipairs(redis.call('ZRANGEBYSCORE', base .. 'exp', '-inf', string.format('%d', now), 'LIMIT', 0, 1000)) do
  redis.call('ZREM', base .. 'lru', k)
  redis.call('ZREM', base .. 'exp', k)
end
return redis.call('ZCARD', base .. 'lru')
