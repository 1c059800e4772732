-- The names of a stream's consumer groups (none when the stream does not exist). ARGV: stream.
if redis.call('EXISTS', ARGV[1]) == 0 then
  return {}
end
local names = {}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', ARGV[1])) do
  for k = 1, #g, 2 do
    if g[k] == 'name' then names[#names + 1] = g[k + 1] end
  end
end
return names
