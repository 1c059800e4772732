-- Appends a batch to the lanes' streams in order, all in one step: each event takes its lane's next
-- sequence as its entry id (<sequence>-0); a live dedup key stores nothing and answers the earlier event.
-- ARGV: prefix, count, then per append: lane, dedup key ('' for none), dedup-until ms, envelope, event id.
-- Returns per append the new sequence (a number) or the earlier event as 'lane sequence id' (a string).
local p = ARGV[1]
local n = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local last = {}
for i = 0, n - 1 do
  local b = 3 + i * 5
  local lane = ARGV[b]
  local dk = ARGV[b + 1]
  local seen = false
  if dk ~= '' then
    seen = redis.call('GET', p .. 'dedup:' .. dk)
  end
  if seen then
    out[#out + 1] = seen
  else
    local seq = redis.call('HINCRBY', p .. 'heads', lane, 1)
    redis.call('XADD', p .. 'log:' .. lane, string.format('%d-0', seq), 'e', ARGV[b + 3])
    local untilMs = tonumber(ARGV[b + 2])
    if dk ~= '' and untilMs > now then
      redis.call('SET', p .. 'dedup:' .. dk, lane .. ' ' .. string.format('%d', seq) .. ' ' .. ARGV[b + 4],
        'PXAT', string.format('%d', untilMs))
    end
    out[#out + 1] = seq
    last[lane] = seq
  end
end
-- When each lane's appends were stored, by this server's clock: what pruning by age goes by.
for lane, seq in pairs(last) do
  redis.call('ZADD', p .. 'times:' .. lane, seq, string.format('%d:%d', seq, now))
  redis.call('PUBLISH', p .. 'appended', lane .. ' ' .. string.format('%d', seq))
end
return out
