-- Deletes dead letters and their reprocess requests. ARGV: prefix, ids. Returns how many were deleted.
local p = ARGV[1]
local deleted = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local owner = redis.call('HGET', p .. 'dl:sub', id)
  if redis.call('HDEL', p .. 'dl', id) == 1 then
    deleted = deleted + 1
    redis.call('ZREM', p .. 'dl:ids', id)
    redis.call('ZREM', p .. 'dl:at', id)
    if owner then
      redis.call('ZREM', p .. 'dl:ids:' .. owner, id)
      redis.call('HDEL', p .. 'dl:sub', id)
      redis.call('HINCRBY', p .. 'dl:count', owner, -1)
    end
  end
  redis.call('ZREM', p .. 'reprocess', id)
end
return deleted
