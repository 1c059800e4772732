-- Stores a request to reprocess a dead letter, once. ARGV: prefix, id, requested-at ms. 0 when there is none.
if redis.call('HEXISTS', ARGV[1] .. 'dl', ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', ARGV[1] .. 'reprocess', 'NX', ARGV[3], ARGV[2])
return 1
