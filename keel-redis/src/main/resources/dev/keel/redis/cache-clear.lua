-- Deletes up to 1,000 of the cache's keys; when none are left, tells the other instances to drop everything.
-- ARGV: base, instance. Returns how many keys are left.
local base = ARGV[1]
for _, k in ipairs(redis.call('ZRANGE', base .. 'lru', 0, 999)) do
  redis.call('DEL', base .. 'v:' .. k)
  redis.call('ZREM', base .. 'lru', k)
  redis.call('ZREM', base .. 'exp', k)
end
local left = redis.call('ZCARD', base .. 'lru')
if left == 0 then
  redis.call('DEL', base .. 'exp')
  redis.call('DEL', base .. 'uses')
  redis.call('PUBLISH', base .. 'inv', ARGV[2] .. ' *')
end
return left
