-- Removes a subscription definition; the removal takes a revision. ARGV: prefix, key. 0 when there was none.
if redis.call('HDEL', ARGV[1] .. 'subs:doc', ARGV[2]) == 0 then
  return 0
end
redis.call('HDEL', ARGV[1] .. 'subs:rev', ARGV[2])
return redis.call('INCR', ARGV[1] .. 'subs:revision')
