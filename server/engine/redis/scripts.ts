/**
 * The Redis engine's one script. Everything that changes a room runs here, atomically:
 * the check, the new state, the next `seq`, the history entry (a Stream), the dedup record
 * and the PUBLISH that fans the event out, in that order. Events are assembled from JSON
 * fragments the caller encoded, so user data is never decoded and re-encoded by Lua
 * (cjson would round numbers to 14 digits).
 *
 * Its KEYS and fixed ARGV are named once, in redis/roomScript.ts (`ROOM_SCRIPT_KEYS`,
 * `ROOM_SCRIPT_ARGS`): the script reads them as `K.<name>` and `A.<name>`; ARGV[15..] are the op's own.
 *
 * Replies: {'OK', event JSON or ''}, {'NO', code, reason}, {'DUP', ack JSON}, {'EPOCH', epoch or ''}.
 * `sweep` and `resync` reply {'OK', n} with the number of members removed.
 */
import { NOTICE_WORDS } from '../../roomNotices'
import { ROOM_SCRIPT_PRELUDE } from './roomScript'

export const ROOM_SCRIPT = `
${ROOM_SCRIPT_PRELUDE}
local epoch = redis.call('GET', K.epoch)
if epoch ~= A.epoch then return {'EPOCH', epoch or ''} end

local op = A.op
local dedup = tonumber(A.dedupTtlMs) > 0

if dedup then
  local earlier = redis.call('GET', K.dedup)
  if earlier then return {'DUP', earlier} end
end

if redis.call('EXISTS', K.meta) == 0 then
  -- A room created again after its keys expired gets an epoch of its own: a client that
  -- knew the old one must take a snapshot, not "recover" into a new seq.
  local gen = redis.call('INCR', K.generation)
  redis.call('PEXPIRE', K.generation, 86400000)
  local roomEpoch = A.epoch
  if gen > 1 then roomEpoch = A.epoch .. '.' .. gen end
  redis.call('HSET', K.meta, 'seq', 0, 'title', A.title, 'status', 'live', 'anchor', A.anchorJson,
    'anchor_uid', A.anchorUid, 'like_num', 0, 'shelfn', 0, 'epoch', roomEpoch)
end

-- An empty room's keys expire after A.idleRoomMs ms without a change; a room with members keeps them.
-- An empty room nobody owns (no anchor, not configured) where nothing but joins and leaves
-- happened ('busy' unset) expires after A.emptyRoomMs ms: joining new ids cannot fill Redis.
local function refresh()
  local idle = tonumber(A.idleRoomMs)
  if idle <= 0 then return end
  local n = tonumber(redis.call('GET', K.online) or '0')
  if n <= 0 and tonumber(A.emptyRoomMs) > 0 then
    local m = redis.call('HMGET', K.meta, 'anchor_uid', 'busy')
    if (not m[1] or m[1] == '') and not m[2] then idle = math.min(idle, tonumber(A.emptyRoomMs)) end
  end
  for _, k in ipairs({K.meta, K.hist, K.online, K.subs, K.shelf, K.shelfOrder, K.msgs, K.likes, K.users}) do
    if n > 0 then redis.call('PERSIST', k) else redis.call('PEXPIRE', k, idle) end
  end
end

local function emit(body)
  local seq = redis.call('HINCRBY', K.meta, 'seq', 1)
  local event = body .. A.roomIdFragment .. ',"seq":' .. seq .. ',"ts":' .. A.now .. '}'
  redis.call('XADD', K.hist, 'MAXLEN', '~', A.historySize, seq .. '-1', 'e', event)
  redis.call('PUBLISH', A.channel, event)
  return event, seq
end

local function ok(body)
  local event, seq = '', nil
  if body then event, seq = emit(body) end
  if dedup then
    local ack = A.ackHead
    if seq then ack = ack .. ',"seq":' .. seq end
    redis.call('SET', K.dedup, ack .. '}', 'PX', A.dedupTtlMs)
  end
  return {'OK', event}
end

-- A refusal here depends on the room's state (goods not on the shelf, a full shelf): not
-- remembered, so a resend after the state changed is judged anew.
local function no(code, reason)
  return {'NO', code, reason}
end

local function online(delta)
  local n = redis.call('INCRBY', K.online, delta)
  if n < 0 then
    redis.call('SET', K.online, 0)
    n = 0
  end
  return n
end

-- Adds delta to a user's connections in the room (user JSON); their count now (0: forgotten).
local function countUser(user, delta)
  local uid = cjson.decode(user).uid
  local n = redis.call('HINCRBY', K.users, uid, delta)
  if n <= 0 then redis.call('HDEL', K.users, uid) end
  return n
end

local function leaveBody(user)
  local name = cjson.decode(user).name
  return '{"msg_type":"leave","user":' .. user .. ',"online_num":' .. online(-1) .. ',"msg_content":' .. cjson.encode(name .. ' ${NOTICE_WORDS.leave}')
end

-- A membership change without a notice (a crowded room): counted, no seq, no event.
local function quiet()
  if dedup then redis.call('SET', K.dedup, A.ackHead .. '}', 'PX', A.dedupTtlMs) end
  return {'QUIET', ''}
end

local function dispatch()
if op == 'open' then
  -- Creates the room (above) so that a snapshot read before the first join has its epoch.
  return {'OK', ''}
elseif op == 'join' then
  -- 15 conn id, 16 user JSON, 17 '1' when an anchor of the room, 18 head, 19 tail, 20 quiet above ('' never)
  if ARGV[17] == '1' and redis.call('HGET', K.meta, 'anchor_uid') == '' then
    redis.call('HSET', K.meta, 'anchor', ARGV[16], 'anchor_uid', cjson.decode(ARGV[16]).uid)
  end
  if redis.call('HSETNX', K.members, ARGV[15], ARGV[16]) == 0 then return ok(nil) end
  redis.call('SADD', K.processRooms, A.roomId)
  -- Another connection of a user already here: nothing changed that anyone sees.
  if countUser(ARGV[16], 1) > 1 then return ok(nil) end
  local n = online(1)
  if ARGV[20] ~= '' and n > tonumber(ARGV[20]) then return quiet() end
  return ok(ARGV[18] .. ',"online_num":' .. n .. ARGV[19])
elseif op == 'leave' then
  -- 15 conn id, 16 quiet above ('' never)
  local user = redis.call('HGET', K.members, ARGV[15])
  if not user then return ok(nil) end
  redis.call('HDEL', K.members, ARGV[15])
  if countUser(user, -1) > 0 then return ok(nil) end
  if ARGV[16] ~= '' then
    local n = online(-1)
    if n >= tonumber(ARGV[16]) then return quiet() end
    online(1)
  end
  return ok(leaveBody(user))
elseif op == 'presence' then
  -- 15 event head (msg_type and user), 16 tail (msg_content): the count as it is now
  local n = tonumber(redis.call('GET', K.online) or '0')
  if n < 0 then n = 0 end
  return ok(ARGV[15] .. ',"online_num":' .. n .. ARGV[16])
elseif op == 'message' then
  -- 15 event body
  local r = ok(ARGV[15])
  redis.call('RPUSH', K.msgs, r[2])
  redis.call('LTRIM', K.msgs, -50, -1)
  return r
elseif op == 'likeAdd' then
  -- 15 count, 16 window ms. Replies {'OK', '1'} when the caller must flush the window.
  redis.call('INCRBY', K.likes, ARGV[15])
  local flusher = redis.call('SET', K.likeWindow, '1', 'NX', 'PX', ARGV[16])
  if dedup then redis.call('SET', K.dedup, A.ackHead .. '}', 'PX', A.dedupTtlMs) end
  if flusher then return {'OK', '1'} end
  return {'OK', ''}
elseif op == 'likeFlush' then
  -- 15 '1': only when no window is open (a flusher died)
  if ARGV[15] == '1' and redis.call('EXISTS', K.likeWindow) == 1 then return {'OK', ''} end
  -- The window ends with its flush: the next like opens a new one (and schedules its flush).
  redis.call('DEL', K.likeWindow)
  local delta = tonumber(redis.call('GET', K.likes) or '0')
  redis.call('DEL', K.likes)
  if delta <= 0 then return {'OK', ''} end
  local total = redis.call('HINCRBY', K.meta, 'like_num', delta)
  return ok('{"msg_type":"like","like_num":' .. total .. ',"delta":' .. delta)
elseif op == 'subscribe' then
  -- 15 uid, 16 head, 17 tail
  if redis.call('SADD', K.subs, ARGV[15]) == 0 then return ok(nil) end
  return ok(ARGV[16] .. ',"subscribe_num":' .. redis.call('SCARD', K.subs) .. ARGV[17])
elseif op == 'buy' then
  -- 15 goods id, 16 user JSON, 17 user name
  local item = redis.call('HGET', K.shelf, ARGV[15])
  if not item then return no(4004, 'goods ' .. ARGV[15] .. ' is not on the shelf') end
  local goods = cjson.decode(item)
  return ok('{"msg_type":"buy","user":' .. ARGV[16] .. ',"goods_id":' .. cjson.encode(goods.goods_id) ..
    ',"goods_name":' .. cjson.encode(goods.goods_name) .. ',"msg_content":' .. cjson.encode(ARGV[17] .. ' ${NOTICE_WORDS.buy} ' .. goods.goods_name))
elseif op == 'shelf' then
  -- 15 goods id, 16 'on' or 'off', 17 item JSON, 18 event body, 19 most goods on the shelf
  if ARGV[16] == 'on' then
    if redis.call('HEXISTS', K.shelf, ARGV[15]) == 0 and redis.call('HLEN', K.shelf) >= tonumber(ARGV[19]) then
      return no(4013, 'the shelf holds ' .. ARGV[19] .. ' goods at most: take some off first')
    end
    redis.call('HSET', K.shelf, ARGV[15], ARGV[17])
    if not redis.call('ZSCORE', K.shelfOrder, ARGV[15]) then
      redis.call('ZADD', K.shelfOrder, redis.call('HINCRBY', K.meta, 'shelfn', 1), ARGV[15])
    end
  else
    if redis.call('HDEL', K.shelf, ARGV[15]) == 0 then return no(4004, 'goods ' .. ARGV[15] .. ' is not on the shelf') end
    redis.call('ZREM', K.shelfOrder, ARGV[15])
  end
  return ok(ARGV[18])
elseif op == 'room_state' then
  -- 15 status, 16 '1' when a title is given, 17 title
  redis.call('HSET', K.meta, 'status', ARGV[15])
  if ARGV[16] == '1' then redis.call('HSET', K.meta, 'title', ARGV[17]) end
  local title = redis.call('HGET', K.meta, 'title')
  return ok('{"msg_type":"room_state","status":' .. cjson.encode(ARGV[15]) .. ',"title":' .. cjson.encode(title))
elseif op == 'sweep' then
  -- The process owning K.members is dead: each of its members leaves. 15 crowded room size ('' none):
  -- in a crowded room they leave quietly, and one leave notice carries the count at the end.
  local members = redis.call('HGETALL', K.members)
  local n = 0
  local last = nil
  for i = 1, #members, 2 do
    if countUser(members[i + 1], -1) > 0 then
      -- still here on a connection of another process
    elseif ARGV[15] ~= '' and tonumber(redis.call('GET', K.online) or '0') - 1 >= tonumber(ARGV[15]) then
      online(-1)
      last = members[i + 1]
    else
      emit(leaveBody(members[i + 1]))
    end
    n = n + 1
  end
  if last then
    local name = cjson.decode(last).name
    emit('{"msg_type":"leave","user":' .. last .. ',"online_num":' .. math.max(0, tonumber(redis.call('GET', K.online) or '0')) .. ',"msg_content":' .. cjson.encode(name .. ' ${NOTICE_WORDS.leave}'))
  end
  redis.call('DEL', K.members)
  redis.call('SREM', K.processRooms, A.roomId)
  return {'OK', n}
elseif op == 'resync' then
  -- 15.. conn id, user JSON pairs: this process's members as it knows them (after an outage).
  local keep = {}
  local n = 0
  for i = 15, #ARGV, 2 do
    keep[ARGV[i]] = true
    if redis.call('HSETNX', K.members, ARGV[i], ARGV[i + 1]) == 1 and countUser(ARGV[i + 1], 1) == 1 then online(1) end
  end
  local members = redis.call('HGETALL', K.members)
  for i = 1, #members, 2 do
    if not keep[members[i]] then
      redis.call('HDEL', K.members, members[i])
      if countUser(members[i + 1], -1) == 0 then emit(leaveBody(members[i + 1])) end
      n = n + 1
    end
  end
  if redis.call('HLEN', K.members) > 0 then redis.call('SADD', K.processRooms, A.roomId) else redis.call('SREM', K.processRooms, A.roomId) end
  return {'OK', n}
end
return redis.error_reply('unknown op ' .. op)
end

-- Ops that leave something in the room besides its members: it is no longer trivial.
local BUSY = { message = true, likeAdd = true, likeFlush = true, subscribe = true, buy = true, shelf = true, room_state = true }

local reply = dispatch()
if BUSY[op] and reply[1] == 'OK' then redis.call('HSET', K.meta, 'busy', '1') end
refresh()
return reply
`

/**
 * Keeps this process's lease and lists the dead: KEYS 1 processes (sorted set of lease
 * expiries); ARGV 1 process id, 2 lease ms. Uses Redis's clock. Replies with 1 when this
 * process had no lease (it is new, or others took it for dead and swept it), then the
 * ids whose lease ran out.
 */
export const LEASE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local reply = {added}
for _, id in ipairs(dead) do
  if id ~= ARGV[1] then table.insert(reply, id) end
end
return reply
`
