-- Forgets a dead letter: its JSON, every index that names it, its count, and its reprocess request. The indexes go
-- whatever the hash held, so an index entry left behind never outlives a delete. Returns 1 when the hash held it.
local function forget_dead_letter(p, id)
  local owner = redis.call('HGET', p .. 'dl:sub', id)
  local removed = redis.call('HDEL', p .. 'dl', id)
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
  return removed
end
