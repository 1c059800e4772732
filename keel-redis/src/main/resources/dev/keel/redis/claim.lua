-- A new owner of a lane takes over, a page at a time, the entries a consumer group of its stream still lists as
-- pending for an earlier owner (an instance that died or handed the lane over); after the last page, it forgets
-- the consumers left with none. ARGV: stream, group, consumer, start. Returns where the next page starts ('0-0'
-- when done).
local log, group, me = ARGV[1], ARGV[2], ARGV[3]
local r = redis.call('XAUTOCLAIM', log, group, me, 0, ARGV[4], 'COUNT', 200, 'JUSTID')
if r[1] == '0-0' then
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
return r[1]
