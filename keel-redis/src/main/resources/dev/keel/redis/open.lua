-- Marks the prefix as Keel's, or checks that it is: the format and the lane count must match.
-- ARGV: prefix, format, lanes. Returns 'NEW', 'OK', or an error naming what differs.
local meta = ARGV[1] .. 'meta'
local format = redis.call('HGET', meta, 'format')
if not format then
  redis.call('HSET', meta, 'format', ARGV[2], 'lanes', ARGV[3])
  return 'NEW'
end
if format ~= ARGV[2] then
  return redis.error_reply('KEEL_FORMAT ' .. format)
end
local lanes = redis.call('HGET', meta, 'lanes')
if lanes ~= ARGV[3] then
  return redis.error_reply('KEEL_LANES ' .. tostring(lanes))
end
return 'OK'
