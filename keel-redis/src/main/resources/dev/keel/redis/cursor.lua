-- A subscription's cursor on a lane: its consumer group's last delivered id, or false when it has none.
-- With a start (ARGV[3]), creates the group there first unless it exists. ARGV: stream, group[, start].
local log, group = ARGV[1], ARGV[2]
if ARGV[3] then
  redis.pcall('XGROUP', 'CREATE', log, group, ARGV[3] .. '-0', 'MKSTREAM')
end
if redis.call('EXISTS', log) == 0 then
  return false
end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', log)) do
  local name, last
  for k = 1, #g, 2 do
    if g[k] == 'name' then name = g[k + 1] end
    if g[k] == 'last-delivered-id' then last = g[k + 1] end
  end
  if name == group then
    return last
  end
end
return false
