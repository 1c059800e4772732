-- Stores a subscription definition under the journal's next revision. ARGV: prefix, key, document.
local rev = redis.call('INCR', ARGV[1] .. 'subs:revision')
redis.call('HSET', ARGV[1] .. 'subs:doc', ARGV[2], ARGV[3])
redis.call('HSET', ARGV[1] .. 'subs:rev', ARGV[2], rev)
return rev
