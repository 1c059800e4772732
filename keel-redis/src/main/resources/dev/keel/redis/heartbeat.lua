-- Announces an instance as live, renews its lane leases and claims free or expired lanes up to its fair
-- share, all by this server's clock; every grant takes the lane's next fencing token.
-- ARGV: prefix, instance, ttl ms, lanes. Returns the fair share, then lane and token of each lease held.
local p, me = ARGV[1], ARGV[2]
local ttl, lanes = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local instances = p .. 'instances'
redis.call('ZADD', instances, string.format('%d', now + ttl), me)
redis.call('ZREMRANGEBYSCORE', instances, '-inf', string.format('(%d', now - 60000))
local live = redis.call('ZCOUNT', instances, string.format('(%d', now), '+inf')
local owners, expiries, tokens = p .. 'lease:owner', p .. 'lease:expires', p .. 'lease:token'
local expiry = string.format('%d', now + ttl)
local held = {}
local free = {}
for lane = 0, lanes - 1 do
  local owner = redis.call('HGET', owners, lane)
  local expires = tonumber(redis.call('HGET', expiries, lane) or '0')
  if owner == me and expires > now then
    redis.call('HSET', expiries, lane, expiry)
    held[#held + 1] = lane
  elseif (not owner) or expires <= now then
    free[#free + 1] = lane
  end
end
local fair = math.ceil(lanes / math.max(1, live))
for _, lane in ipairs(free) do
  if #held >= fair then
    break
  end
  redis.call('HSET', owners, lane, me)
  redis.call('HSET', expiries, lane, expiry)
  -- A token above every earlier one, even if Redis lost grants (a restart from an AOF synced once a second): at
  -- least the server's time in microseconds.
  local token = redis.call('HINCRBY', tokens, lane, 1)
  if token < now * 1000 then
    redis.call('HSET', tokens, lane, string.format('%d', now * 1000))
  end
  held[#held + 1] = lane
end
local out = {fair}
for _, lane in ipairs(held) do
  out[#out + 1] = lane
  out[#out + 1] = tonumber(redis.call('HGET', tokens, lane))
end
return out
