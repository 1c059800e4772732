-- Replaces a stored dead letter. ARGV: prefix, id, json. Returns 1, or 0 when there is none.
if redis.call('HEXISTS', ARGV[1] .. 'dl', ARGV[2]) == 0 then
  return 0
end
redis.call('HSET', ARGV[1] .. 'dl', ARGV[2], ARGV[3])
return 1
