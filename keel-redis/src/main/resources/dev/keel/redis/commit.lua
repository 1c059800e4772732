-- requires: lib-dead-letters.lua
-- Applies the outcomes of one (subscription, lane) in one step, only while the fence is the lane's token.
-- ARGV: prefix, subscription, lane, cursor (-1: unchanged), fence (-1: none), consumer,
--   nUpserts, then per upsert: sequence, pending json, attempt;
--   nRemovals, then sequences; nDeadLetters, then per dead letter: id, json, dead-lettered ms;
--   nRemovedDeadLetters, then ids; then the tally: delivered, failed, retried, dead-lettered.
local p, sub, lane = ARGV[1], ARGV[2], ARGV[3]
local cursor, fence, consumer = ARGV[4], ARGV[5], ARGV[6]
if fence ~= '-1' then
  local token = redis.call('HGET', p .. 'lease:token', lane)
  if token ~= fence then
    return redis.error_reply('KEEL_LEASE_LOST ' .. tostring(token))
  end
end
local log = p .. 'log:' .. lane
local pending = p .. 'pending:' .. lane .. ':' .. sub
local i = 7
local nUp = tonumber(ARGV[i]); i = i + 1
for _ = 1, nUp do
  redis.call('HSET', pending, ARGV[i], ARGV[i + 1])
  -- Also in the group's pending entries, owned by this instance, with its attempts as the delivery count.
  redis.pcall('XCLAIM', log, sub, consumer, 0, ARGV[i] .. '-0', 'RETRYCOUNT', ARGV[i + 2], 'FORCE', 'JUSTID')
  i = i + 3
end
local nRm = tonumber(ARGV[i]); i = i + 1
for _ = 1, nRm do
  redis.call('HDEL', pending, ARGV[i])
  redis.pcall('XACK', log, sub, ARGV[i] .. '-0')
  i = i + 1
end
local nDl = tonumber(ARGV[i]); i = i + 1
for _ = 1, nDl do
  local id = ARGV[i]
  if redis.call('HSETNX', p .. 'dl', id, ARGV[i + 1]) == 1 then
    redis.call('ZADD', p .. 'dl:ids', 0, id)
    redis.call('ZADD', p .. 'dl:ids:' .. sub, 0, id)
    redis.call('ZADD', p .. 'dl:at', ARGV[i + 2], id)
    redis.call('HSET', p .. 'dl:sub', id, sub)
    redis.call('HINCRBY', p .. 'dl:count', sub, 1)
  end
  i = i + 3
end
local nTaken = tonumber(ARGV[i]); i = i + 1
for _ = 1, nTaken do
  forget_dead_letter(p, ARGV[i])
  i = i + 1
end
local tally = p .. 'tally:' .. sub
local names = {'delivered', 'failed', 'retried', 'deadLettered'}
for k = 1, 4 do
  local v = tonumber(ARGV[i + k - 1])
  if v ~= 0 then
    redis.call('HINCRBY', tally, names[k], v)
  end
end
-- The cursor last: if anything above failed, it has not moved past what the commit recorded.
if cursor ~= '-1' then
  local moved = redis.pcall('XGROUP', 'SETID', log, sub, cursor .. '-0')
  if type(moved) == 'table' and moved.err then
    redis.call('XGROUP', 'CREATE', log, sub, cursor .. '-0', 'MKSTREAM')
  end
end
return 'OK'
