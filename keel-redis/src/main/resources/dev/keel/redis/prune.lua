-- Removes a lane's records up to ARGV[3] that were stored before ARGV[4] (ms, this server's clock), going by
-- the times the appends recorded. ARGV: prefix, lane, passed, before. Returns the last sequence removed, or 0.
local p, lane = ARGV[1], ARGV[2]
local passed, before = tonumber(ARGV[3]), tonumber(ARGV[4])
local times = p .. 'times:' .. lane
local upTo = 0
local marks = redis.call('ZRANGEBYSCORE', times, '-inf', '+inf', 'LIMIT', 0, 2000)
for _, mark in ipairs(marks) do
  local sep = string.find(mark, ':', 1, true)
  local seq = tonumber(string.sub(mark, 1, sep - 1))
  local at = tonumber(string.sub(mark, sep + 1))
  if at >= before then
    break
  end
  upTo = math.min(seq, passed)
  if seq >= passed then
    break
  end
end
if upTo <= 0 then
  return 0
end
redis.call('XTRIM', p .. 'log:' .. lane, 'MINID', string.format('%d-0', upTo + 1))
redis.call('ZREMRANGEBYSCORE', times, '-inf', string.format('%d', upTo))
return upTo
