-- Stores a value for ttl ms, forgets what expired, evicts the least recently used keys over the maximum, and tells
-- the other instances to drop their copy. ARGV: base, key, value, ttl ms, max keys, instance.
-- Returns how many keys were evicted.
local base, key = ARGV[1], ARGV[2]
local ttl = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', base .. 'v:' .. key, ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', base .. 'lru', redis.call('INCR', base .. 'uses'), key)
redis.call('ZADD', base .. 'exp', string.format('%d', now + ttl), key)
for _, k in ipairs(redis.call('ZRANGEBYSCORE', base .. 'exp', '-inf', string.format('%d', now), 'LIMIT', 0, 100)) do
  redis.call('ZREM', base .. 'lru', k)
  redis.call('ZREM', base .. 'exp', k)
end
local evicted = 0
local over = redis.call('ZCARD', base .. 'lru') - tonumber(ARGV[5])
if over > 0 then
  for _, k in ipairs(redis.call('ZRANGE', base .. 'lru', 0, over - 1)) do
    redis.call('ZREM', base .. 'lru', k)
    redis.call('ZREM', base .. 'exp', k)
    evicted = evicted + redis.call('DEL', base .. 'v:' .. k)
  end
end
redis.call('PUBLISH', base .. 'inv', ARGV[6] .. ' ' .. key)
return evicted
