-- Deletes dead letters and their reprocess requests. ARGV: prefix, ids. Returns how many were deleted.
local p = ARGV[1]
local deleted = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local owner = redis.call('HGET', p .. 'dl:sub', id)
  local removed = redis.call('HDEL', p .. 'dl', id)
  deleted = deleted + removed
  -- The indexes go whatever the hash held, so an index entry left behind never outlives a delete.
  redis.call('ZREM', p .. 'dl:ids', id)
  redis.call('ZREM', p .. 'dl:at', id)
  if owner then
    redis.call('ZREM', p .. 'dl:ids:' .. owner, id)
    redis.call('HDEL', p .. 'dl:sub', id)
    if removed == 1 then
      redis.call('HINCRBY', p .. 'dl:count', owner, -1)
    end
  end
  redis.call('ZREM', p .. 'reprocess', id)
end
return deleted
