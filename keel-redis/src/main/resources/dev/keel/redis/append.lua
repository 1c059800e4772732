-- Appends a batch to the lanes' streams in order, all in one step: each event takes its lane's next
-- sequence as its entry id (<sequence>-0); a live dedup key stores nothing and answers the earlier event.
-- ARGV: prefix, count, then per append: lane, dedup key ('' for none), dedup-until ms, envelope, event id.
-- Returns per append the new sequence (a number) or the earlier event as 'lane sequence id' (a string).
local p = ARGV[1]
local n = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Everything is checked before anything is written: a script is not undone when it fails half way.
local checked = {}
for i = 0, n - 1 do
  local lane = ARGV[3 + i * 5]
  if not checked[lane] then
    checked[lane] = true
    local top = redis.call('XREVRANGE', p .. 'log:' .. lane, '+', '-', 'COUNT', 1)
    if #top > 0 then
      local id = top[1][1]
      local seq = tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
      local head = tonumber(redis.call('HGET', p .. 'heads', lane) or '0')
      if seq == nil or seq > head then
        return redis.error_reply('KEEL_FOREIGN lane ' .. lane .. ' holds the entry ' .. id .. ' past its head ' .. head)
      end
    end
  end
end
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
-- When each lane's appends were stored, by this server's clock: what pruning by age goes by. One mark per lane and
-- millisecond (its member), holding the highest sequence stored in it (its score).
for lane, seq in pairs(last) do
  redis.call('ZADD', p .. 'times:' .. lane, 'GT', seq, string.format('%d', now))
  redis.call('PUBLISH', p .. 'appended', lane .. ' ' .. string.format('%d', seq))
end
return out
