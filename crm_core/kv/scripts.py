"""Lua scripts that make the Redis work queue and locks atomic.

Queue layout (KEYS): 1 ready LIST (FIFO ids), 2 inflight ZSET (id -> deadline, also used for
delayed nacks), 3 dead ZSET (id -> failed_at), 4 notify LIST (one wake-up token for blocked
takers). ARGV[1] is the message-hash prefix; each message is a HASH with fields
p (payload JSON), enq, att (deliveries so far), st (r|i|d), since (ready since), why, fail.
Times come from the server's TIME so every process agrees on deadlines. Also holds the
payload encoding and TTL rounding both backends share, so they behave alike.
"""
from __future__ import annotations

import json
from typing import Any


def ttl_ms(ttl: float) -> int:
    """Seconds to whole milliseconds (at least 1); a non-positive TTL is a caller bug."""
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return max(1, int(round(ttl * 1000)))


def encode_payload(payload: dict[str, Any]) -> str:
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


_COMMON = """
local function now_s()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.6f', x) end
local function wake(key)
  -- Keep at most one token: a blocked taker wakes, a taker that finds work re-wakes the next.
  redis.call('LPUSH', key, '1')
  redis.call('LTRIM', key, 0, 0)
end
local function make_ready(mk, id, now)
  redis.call('RPUSH', KEYS[1], id)
  redis.call('HSET', mk, 'st', 'r', 'since', fmt(now))
end
-- A new message (no deliveries yet), ready now; `enq` is when it was first enqueued.
local function add_ready(id, payload, enq, now)
  redis.call('HSET', ARGV[1] .. id, 'p', payload, 'enq', enq, 'att', 0)
  make_ready(ARGV[1] .. id, id, now)
end
-- A delivery is current while nobody has taken the message since (att unchanged) and it is
-- not dead; returns the message state then, nil otherwise.
local function current_state(mk, att)
  local f = redis.call('HMGET', mk, 'att', 'st')
  if not f[1] or f[1] ~= att or f[2] == 'd' then return nil end
  return f[2]
end
local function detach(id, st)
  if st == 'i' then redis.call('ZREM', KEYS[2], id)
  elseif st == 'r' then redis.call('LREM', KEYS[1], 1, id) end
end
"""

PUT = _COMMON + """
local now = now_s()
add_ready(ARGV[2], ARGV[3], fmt(now), now)
wake(KEYS[4])
return fmt(now)
"""

# KEYS[5] idempotency key; ARGV: 2 id, 3 payload, 4 key TTL ms. Claim + PUT in one step
# (one round trip on the webhook ack path); '' when the key was already claimed.
PUT_ONCE = _COMMON + """
if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[4]) then return '' end
local now = now_s()
add_ready(ARGV[2], ARGV[3], fmt(now), now)
wake(KEYS[4])
return ARGV[2]
"""

# ARGV: 2 visibility seconds, 3 reclaim batch size.
# Returns {id, payload, attempts, enqueued_at} or {'', seconds until the next deadline or ''}.
TAKE = _COMMON + """
local now = now_s()
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', fmt(now), 'LIMIT', 0, tonumber(ARGV[3]))
for _, eid in ipairs(expired) do
  redis.call('ZREM', KEYS[2], eid)
  if redis.call('EXISTS', ARGV[1] .. eid) == 1 then make_ready(ARGV[1] .. eid, eid, now) end
end
local id = redis.call('LPOP', KEYS[1])
while id and redis.call('EXISTS', ARGV[1] .. id) == 0 do id = redis.call('LPOP', KEYS[1]) end
if not id then
  local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  if nxt[2] then return {'', fmt(tonumber(nxt[2]) - now)} end
  return {'', ''}
end
local mk = ARGV[1] .. id
local att = redis.call('HINCRBY', mk, 'att', 1)
redis.call('ZADD', KEYS[2], fmt(now + tonumber(ARGV[2])), id)
redis.call('HSET', mk, 'st', 'i')
if redis.call('LLEN', KEYS[1]) > 0 then wake(KEYS[4]) end
local f = redis.call('HMGET', mk, 'p', 'enq')
return {id, f[1], tostring(att), f[2]}
"""

# ARGV: 2 id, 3 attempts of the delivery. Returns 1 when honoured, 0 for a stale delivery.
ACK = _COMMON + """
local mk = ARGV[1] .. ARGV[2]
local st = current_state(mk, ARGV[3])
if not st then return 0 end
detach(ARGV[2], st)
redis.call('DEL', mk)
return 1
"""

# ARGV: 2 id, 3 attempts, 4 visibility seconds. Moves the in-flight deadline to now + seconds
# (a message a take already reclaimed to ready, but nobody took, goes back in flight).
# Returns 1 when honoured, 0 for a stale delivery.
EXTEND = _COMMON + """
local mk = ARGV[1] .. ARGV[2]
local st = current_state(mk, ARGV[3])
if not st then return 0 end
if st == 'r' then redis.call('LREM', KEYS[1], 1, ARGV[2]) end
redis.call('ZADD', KEYS[2], fmt(now_s() + tonumber(ARGV[4])), ARGV[2])
redis.call('HSET', mk, 'st', 'i')
return 1
"""

# ARGV: 2 id, 3 attempts, 4 delay seconds. A delayed nack parks the message in the
# inflight ZSET with the later deadline (like changing an SQS visibility timeout).
NACK = _COMMON + """
local mk = ARGV[1] .. ARGV[2]
local st = current_state(mk, ARGV[3])
if not st then return 0 end
local now = now_s()
local delay = tonumber(ARGV[4])
detach(ARGV[2], st)
if delay > 0 then
  redis.call('ZADD', KEYS[2], fmt(now + delay), ARGV[2])
  redis.call('HSET', mk, 'st', 'i')
else
  make_ready(mk, ARGV[2], now)
end
wake(KEYS[4])
return 1
"""

# ARGV: 2 id, 3 attempts, 4 reason.
DEAD_LETTER = _COMMON + """
local mk = ARGV[1] .. ARGV[2]
local st = current_state(mk, ARGV[3])
if not st then return 0 end
local now = now_s()
detach(ARGV[2], st)
redis.call('ZADD', KEYS[3], fmt(now), ARGV[2])
redis.call('HSET', mk, 'st', 'd', 'why', ARGV[4], 'fail', fmt(now))
return 1
"""

# ARGV: 2 id, or '' for every dead letter; 3 a fresh token for the new ids. Each letter goes
# back to ready as a new message (id <token>:<n>, attempts from zero, same payload and enqueue
# time): an admin's retry gets the full MAX_ATTEMPTS, and a stale delivery of the old id
# cannot touch it. Returns how many went back to ready.
RETRY_DEAD = _COMMON + """
local now = now_s()
local ids
if ARGV[2] == '' then ids = redis.call('ZRANGE', KEYS[3], 0, -1) else ids = {ARGV[2]} end
local moved = 0
for _, id in ipairs(ids) do
  local mk = ARGV[1] .. id
  if redis.call('ZREM', KEYS[3], id) == 1 and redis.call('EXISTS', mk) == 1 then
    local f = redis.call('HMGET', mk, 'p', 'enq')
    redis.call('DEL', mk)
    moved = moved + 1
    add_ready(ARGV[3] .. ':' .. moved, f[1], f[2], now)
  end
end
if moved > 0 then wake(KEYS[4]) end
return moved
"""

# Returns {ready, inflight, dead, oldest ready age or ''}.
STATS = _COMMON + """
local now = now_s()
local head = redis.call('LINDEX', KEYS[1], 0)
local age = ''
if head then
  local since = redis.call('HGET', ARGV[1] .. head, 'since')
  if since then age = fmt(math.max(0, now - tonumber(since))) end
end
return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), age}
"""

# KEYS[1] key; ARGV[1] ttl ms or '' for none. TTL only when this call creates the key.
INCR = """
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCR', KEYS[1])
if existed == 0 and ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return v
"""

# Locks. KEYS[1] lock key; ARGV[1] owner token; ARGV[2] ttl ms.
# Returns 0 when acquired, else the holder's remaining ms (so a waiter sleeps no longer).
LOCK_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then return 1 end
return math.max(left, 1)
"""

LOCK_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

LOCK_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
