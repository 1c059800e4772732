-- Deletes a cached value and tells the other instances. ARGV: base, key, instance. Returns 1, or 0 when absent.
local base, key = ARGV[1], ARGV[2]
redis.call('ZREM', base .. 'lru', key)
redis.call('ZREM', base .. 'exp', key)
local n = redis.call('DEL', base .. 'v:' .. key)
redis.call('PUBLISH', base .. 'inv', ARGV[3] .. ' ' .. key)
return n
