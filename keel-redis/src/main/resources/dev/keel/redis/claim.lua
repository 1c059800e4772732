-- A new owner of a lane takes over the entries the groups of its stream still list as pending for an earlier
-- owner (an instance that died or handed the lane over), and forgets consumers left with none.
-- ARGV: stream, consumer. Returns how many entries moved.
local log, me = ARGV[1], ARGV[2]
if redis.call('EXISTS', log) == 0 then
  return 0
end
local moved = 0
for _, g in ipairs(redis.call('XINFO', 'GROUPS', log)) do
  local group
  for k = 1, #g, 2 do
    if g[k] == 'name' then group = g[k + 1] end
  end
  local start = '0-0'
  repeat
    local r = redis.call('XAUTOCLAIM', log, group, me, 0, start, 'COUNT', 500, 'JUSTID')
    start = r[1]
    moved = moved + #r[2]
  until start == '0-0'
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', log, group)) do
    local name, pending
    for k = 1, #c, 2 do
      if c[k] == 'name' then name = c[k + 1] end
      if c[k] == 'pending' then pending = c[k + 1] end
    end
    if name ~= me and pending == 0 then
      redis.call('XGROUP', 'DELCONSUMER', log, group, name)
    end
  end
end
return moved
