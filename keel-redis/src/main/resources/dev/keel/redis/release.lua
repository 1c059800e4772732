-- Gives lanes up at once. ARGV: prefix, instance, lanes...
local p, me = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  if redis.call('HGET', p .. 'lease:owner', ARGV[i]) == me then
    redis.call('HDEL', p .. 'lease:owner', ARGV[i])
    redis.call('HSET', p .. 'lease:expires', ARGV[i], 0)
  end
end
return 'OK'
