-- After Redis lost acknowledged appends (restarted from an AOF synced once a second, or failed over to a replica
-- that lagged), raises a lane's head back to what an instance saw, so that no sequence is given twice: the lost
-- events stay lost, and new ones follow the highest sequence ever acknowledged. ARGV: prefix, lane, seen.
local heads = ARGV[1] .. 'heads'
local stored = tonumber(redis.call('HGET', heads, ARGV[2]) or '0')
if stored < tonumber(ARGV[3]) then
  redis.call('HSET', heads, ARGV[2], ARGV[3])
  return tonumber(ARGV[3])
end
return stored
