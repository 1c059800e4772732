-- Removes a lane's records up to ARGV[3] that were stored more than ARGV[4] ms ago by this server's clock, going by
-- the marks the appends left (member: the millisecond, score: the highest sequence stored in it).
-- ARGV: prefix, lane, passed, age ms. Returns the last sequence removed, or 0.
local p, lane = ARGV[1], ARGV[2]
local passed = tonumber(ARGV[3])
local t = redis.call('TIME')
local before = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[4])
local times = p .. 'times:' .. lane
local upTo = 0
local done = false
local from = '-inf'
for _ = 1, 10 do
  local marks = redis.call('ZRANGEBYSCORE', times, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1000)
  if #marks == 0 then
    break
  end
  for k = 1, #marks, 2 do
    local at = tonumber(marks[k])
    local seq = tonumber(marks[k + 1])
    if at >= before then
      done = true
      break
    end
    upTo = math.min(seq, passed)
    if seq >= passed then
      done = true
      break
    end
    from = '(' .. string.format('%d', seq)
  end
  if done or #marks < 2000 then
    break
  end
end
if upTo <= 0 then
  return 0
end
redis.call('XTRIM', p .. 'log:' .. lane, 'MINID', string.format('%d-0', upTo + 1))
redis.call('ZREMRANGEBYSCORE', times, '-inf', string.format('%d', upTo))
return upTo
