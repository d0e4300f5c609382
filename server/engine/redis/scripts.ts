/**
 * The Redis engine's one script. Everything that changes a room runs here, atomically:
 * the check, the new state, the next `seq`, the history entry (a Stream), the dedup record
 * and the PUBLISH (SPUBLISH on a cluster) that fans the event out, in that order. Events are
 * assembled from JSON fragments the caller encoded, so user data is never decoded and
 * re-encoded by Lua (cjson would round numbers to 14 digits). Every key it touches, and the
 * channel, carry the room's hash tag: on a Redis Cluster the script runs in the room's slot.
 *
 * Its KEYS and fixed ARGV are named once, in redis/roomScript.ts (`ROOM_SCRIPT_KEYS`,
 * `ROOM_SCRIPT_ARGS`): the script reads them as `K.<name>` and `A.<name>`; the ARGV after them are the op's own.
 *
 * The room's epoch is a field of its meta hash (docs/protocol.md, "Epochs and recovery"). The
 * caller says which epoch and seq its process last delivered (`knownEpoch`, `knownSeq`); when
 * the room is gone (Redis lost its data) or its seq is behind that (a failover to a replica
 * that lacked the last events), the room takes the fresh epoch the caller generated, its seq
 * goes on past `knownSeq` (never reused), and the channel carries `{"epoch":E,"seq":S}` so
 * every process serving the room sends its clients to a snapshot.
 *
 * Replies: {'OK', event JSON or ''}, {'NO', code, reason}, {'DUP', ack JSON}, {'QUIET', ''}.
 * `sweep` and `resync` reply {'OK', n} with the number of members removed.
 */
import { NOTICE_WORDS } from '../../roomNotices'
import { ROOM_SCRIPT_PRELUDE } from './roomScript'

/**
 * How far past the last seq this process delivered a renewed history starts: more than any
 * process can be behind another on one room's channel.
 */
export const RENEWED_SEQ_JUMP = 1000

export const ROOM_SCRIPT = `
${ROOM_SCRIPT_PRELUDE}
local op = A.op
local dedup = tonumber(A.dedupTtlMs) > 0

if dedup then
  local earlier = redis.call('GET', K.dedup)
  if earlier then return {'DUP', earlier} end
end

local head = redis.call('HMGET', K.meta, 'epoch', 'seq', 'busy', 'persist')
-- A renewed history starts well past what this process delivered: another process that delivered
-- a little more sees a gap there, checks the epoch and resets, never taking the new events for
-- the old history's next ones.
local known = tonumber(A.knownSeq)
local renewedSeq = known
if A.knownEpoch ~= '' then renewedSeq = known + ${RENEWED_SEQ_JUMP} end
local reset = false
if not head[2] then
  -- A new room, one created again after its keys expired, or one Redis lost: a fresh epoch, so a
  -- client that knew an earlier one takes a snapshot, never a "recovery" into another history.
  -- What an earlier life left (keys expire one by one) is not this history's.
  redis.call('DEL', K.hist, K.msgs, K.shelf, K.shelfOrder, K.subs, K.likes, K.likeWindow)
  redis.call('HSET', K.meta, 'seq', renewedSeq, 'title', A.title, 'status', 'live', 'anchor', A.anchorJson,
    'anchor_uid', A.anchorUid, 'like_num', 0, 'shelfn', 0, 'epoch', A.freshEpoch)
  head[3], head[4] = nil, nil
  -- Noted on the channel too: a process that followed the room before it existed learns its epoch.
  reset = true
elseif head[1] == A.knownEpoch and tonumber(head[2]) < known then
  -- The history went back under the same epoch (a promoted replica lacked the last events).
  redis.call('HSET', K.meta, 'epoch', A.freshEpoch, 'seq', renewedSeq)
  reset = true
end
if reset then
  redis.call(A.publish, A.channel, '{"epoch":' .. cjson.encode(A.freshEpoch) .. ',"seq":' .. renewedSeq .. '}')
end

-- An empty room's keys expire after A.idleRoomMs ms without a change; a room with members keeps them.
-- An empty room nobody owns (no anchor, not configured) where nothing but joins and leaves
-- happened ('busy' unset) expires after A.emptyRoomMs ms: joining new ids cannot fill Redis.
-- The room's keys are PERSISTed once when it fills ('persist' in its meta), not on every change.
local function refresh()
  local idle = tonumber(A.idleRoomMs)
  if idle <= 0 then return end
  local n = tonumber(redis.call('GET', K.online) or '0')
  if n > 0 and head[4] then return end
  if n <= 0 and tonumber(A.emptyRoomMs) > 0 then
    local m = redis.call('HMGET', K.meta, 'anchor_uid', 'busy')
    if (not m[1] or m[1] == '') and not m[2] then idle = math.min(idle, tonumber(A.emptyRoomMs)) end
  end
  if n > 0 then redis.call('HSET', K.meta, 'persist', '1') else redis.call('HDEL', K.meta, 'persist') end
  for _, k in ipairs({K.meta, K.hist, K.online, K.subs, K.shelf, K.shelfOrder, K.msgs, K.likes, K.users, K.names, K.mutes, K.kicks}) do
    if n > 0 then redis.call('PERSIST', k) else redis.call('PEXPIRE', k, idle) end
  end
end

local function emit(body)
  local seq = redis.call('HINCRBY', K.meta, 'seq', 1)
  local event = body .. A.roomIdFragment .. ',"seq":' .. seq .. ',"ts":' .. A.now .. '}'
  redis.call('XADD', K.hist, 'MAXLEN', '~', A.historySize, seq .. '-1', 'e', event)
  redis.call(A.publish, A.channel, event)
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
-- Below 0: the user had been counted out already (kicked). Their names are kept for moderation notices.
local function countUser(user, delta)
  local u = cjson.decode(user)
  local n = redis.call('HINCRBY', K.users, u.uid, delta)
  if n <= 0 then
    redis.call('HDEL', K.users, u.uid)
    redis.call('HDEL', K.names, u.uid)
  elseif n == 1 and delta > 0 then
    redis.call('HSET', K.names, u.uid, u.name)
  end
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
  -- 1 conn id, 2 user JSON, 3 '1' when an anchor of the room, 4 head, 5 tail, 6 quiet above ('' never)
  if P[3] == '1' and redis.call('HGET', K.meta, 'anchor_uid') == '' then
    redis.call('HSET', K.meta, 'anchor', P[2], 'anchor_uid', cjson.decode(P[2]).uid)
  end
  if redis.call('HSETNX', K.members, P[1], P[2]) == 0 then return ok(nil) end
  -- Another connection of a user already here: nothing changed that anyone sees.
  if countUser(P[2], 1) > 1 then return ok(nil) end
  local n = online(1)
  if P[6] ~= '' and n > tonumber(P[6]) then return quiet() end
  return ok(P[4] .. ',"online_num":' .. n .. P[5])
elseif op == 'leave' then
  -- 1 conn id, 2 quiet above ('' never)
  local user = redis.call('HGET', K.members, P[1])
  if not user then return ok(nil) end
  redis.call('HDEL', K.members, P[1])
  if countUser(user, -1) ~= 0 then return ok(nil) end
  if P[2] ~= '' then
    local n = online(-1)
    if n >= tonumber(P[2]) then return quiet() end
    online(1)
  end
  return ok(leaveBody(user))
elseif op == 'presence' then
  -- 1 event head (msg_type and user), 2 tail (msg_content): the count as it is now
  local n = tonumber(redis.call('GET', K.online) or '0')
  if n < 0 then n = 0 end
  return ok(P[1] .. ',"online_num":' .. n .. P[2])
elseif op == 'message' then
  -- 1 event body, 2 the sender's uid (a muted sender is refused, and not remembered: judged anew)
  local muted = tonumber(redis.call('HGET', K.mutes, P[2]) or '0')
  if muted > tonumber(A.now) then return {'NO', 4030, 'you are muted in this room', muted} end
  local r = ok(P[1])
  redis.call('RPUSH', K.msgs, r[2])
  redis.call('LTRIM', K.msgs, -50, -1)
  return r
elseif op == 'likeAdd' then
  -- 1 count, 2 window ms. Replies {'OK', '1'} when the caller must flush the window.
  redis.call('INCRBY', K.likes, P[1])
  local flusher = redis.call('SET', K.likeWindow, '1', 'NX', 'PX', P[2])
  if dedup then redis.call('SET', K.dedup, A.ackHead .. '}', 'PX', A.dedupTtlMs) end
  if flusher then return {'OK', '1'} end
  return {'OK', ''}
elseif op == 'likeFlush' then
  -- 1 '1': only when no window is open (a flusher died)
  if P[1] == '1' and redis.call('EXISTS', K.likeWindow) == 1 then return {'OK', ''} end
  -- The window ends with its flush: the next like opens a new one (and schedules its flush).
  redis.call('DEL', K.likeWindow)
  local delta = tonumber(redis.call('GET', K.likes) or '0')
  redis.call('DEL', K.likes)
  if delta <= 0 then return {'OK', ''} end
  local total = redis.call('HINCRBY', K.meta, 'like_num', delta)
  return ok('{"msg_type":"like","like_num":' .. total .. ',"delta":' .. delta)
elseif op == 'subscribe' then
  -- 1 uid, 2 head, 3 tail
  if redis.call('SADD', K.subs, P[1]) == 0 then return ok(nil) end
  return ok(P[2] .. ',"subscribe_num":' .. redis.call('SCARD', K.subs) .. P[3])
elseif op == 'buy' then
  -- 1 goods id, 2 user JSON, 3 user name
  local item = redis.call('HGET', K.shelf, P[1])
  if not item then return no(4004, 'goods ' .. P[1] .. ' is not on the shelf') end
  local goods = cjson.decode(item)
  return ok('{"msg_type":"buy","user":' .. P[2] .. ',"goods_id":' .. cjson.encode(goods.goods_id) ..
    ',"goods_name":' .. cjson.encode(goods.goods_name) .. ',"msg_content":' .. cjson.encode(P[3] .. ' ${NOTICE_WORDS.buy} ' .. goods.goods_name))
elseif op == 'shelf' then
  -- 1 goods id, 2 'on' or 'off', 3 item JSON, 4 event body, 5 most goods on the shelf
  if P[2] == 'on' then
    if redis.call('HEXISTS', K.shelf, P[1]) == 0 and redis.call('HLEN', K.shelf) >= tonumber(P[5]) then
      return no(4013, 'the shelf holds ' .. P[5] .. ' goods at most: take some off first')
    end
    redis.call('HSET', K.shelf, P[1], P[3])
    if not redis.call('ZSCORE', K.shelfOrder, P[1]) then
      redis.call('ZADD', K.shelfOrder, redis.call('HINCRBY', K.meta, 'shelfn', 1), P[1])
    end
  else
    if redis.call('HDEL', K.shelf, P[1]) == 0 then return no(4004, 'goods ' .. P[1] .. ' is not on the shelf') end
    redis.call('ZREM', K.shelfOrder, P[1])
  end
  return ok(P[4])
elseif op == 'room_state' then
  -- 1 status, 2 '1' when a title is given, 3 title
  redis.call('HSET', K.meta, 'status', P[1])
  if P[2] == '1' then redis.call('HSET', K.meta, 'title', P[3]) end
  local title = redis.call('HGET', K.meta, 'title')
  return ok('{"msg_type":"room_state","status":' .. cjson.encode(P[1]) .. ',"title":' .. cjson.encode(title))
elseif op == 'delete_message' then
  -- 1 target msg id, 2 its message's needle, 3 its deletion's needle, 4 event body. The message must
  -- be in the room's history (the recovery window) and not deleted yet.
  local found = false
  for _, entry in ipairs(redis.call('XRANGE', K.hist, '-', '+')) do
    local e = entry[2][2]
    if string.find(e, '{"msg_type":"message",', 1, true) == 1 and string.find(e, P[2], 1, true) then
      found = true
    elseif string.find(e, '{"msg_type":"message_deleted",', 1, true) == 1 and string.find(e, P[3], 1, true) then
      found = false
    end
  end
  if not found then return no(4004, 'no message ' .. P[1] .. ' in the history of this room') end
  -- Snapshots leave it out from now on.
  for _, m in ipairs(redis.call('LRANGE', K.msgs, 0, -1)) do
    if string.find(m, P[2], 1, true) then
      redis.call('LREM', K.msgs, 1, m)
      break
    end
  end
  return ok(P[4])
elseif op == 'mute' or op == 'kick' then
  -- 1 uid, 2 duration ms (0 lifts a mute), 3 by (user JSON), 4 most users listed, 5 uid as JSON
  local list = K.mutes
  if op == 'kick' then list = K.kicks end
  local untilText = '0'
  if tonumber(P[2]) > 0 then untilText = string.format('%.0f', tonumber(A.now) + tonumber(P[2])) end
  if untilText == '0' then
    redis.call('HDEL', list, P[1])
  else
    if redis.call('HEXISTS', list, P[1]) == 0 and redis.call('HLEN', list) >= tonumber(P[4]) then
      local all = redis.call('HGETALL', list)
      for i = 1, #all, 2 do
        if tonumber(all[i + 1]) <= tonumber(A.now) then redis.call('HDEL', list, all[i]) end
      end
      if redis.call('HLEN', list) >= tonumber(P[4]) then return no(4013, 'a room holds ' .. P[4] .. ' ' .. op .. ' entries at most') end
    end
    redis.call('HSET', list, P[1], untilText)
  end
  local user = '{"uid":' .. P[5] .. ',"name":' .. cjson.encode(redis.call('HGET', K.names, P[1]) or '') .. '}'
  if op == 'mute' then return ok('{"msg_type":"muted","user":' .. user .. ',"until":' .. untilText .. ',"by":' .. P[3]) end
  -- Every connection of the user leaves at once: counted out now; their leaves then change nothing.
  local count = tonumber(redis.call('GET', K.online) or '0')
  if redis.call('HDEL', K.users, P[1]) == 1 then
    count = online(-1)
    redis.call('HDEL', K.names, P[1])
  end
  return ok('{"msg_type":"kicked","user":' .. user .. ',"until":' .. untilText .. ',"by":' .. P[3] .. ',"online_num":' .. count)
elseif op == 'sweep' then
  -- The process owning K.members is dead: each of its members leaves. 1 crowded room size ('' none):
  -- in a crowded room they leave quietly, and one leave notice carries the count at the end.
  local members = redis.call('HGETALL', K.members)
  local n = 0
  local last = nil
  for i = 1, #members, 2 do
    if countUser(members[i + 1], -1) ~= 0 then
      -- still here on a connection of another process, or counted out by a kick
    elseif P[1] ~= '' and tonumber(redis.call('GET', K.online) or '0') - 1 >= tonumber(P[1]) then
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
  return {'OK', n}
elseif op == 'resync' then
  -- 1.. conn id, user JSON pairs: this process's members as it knows them (after an outage).
  local keep = {}
  local n = 0
  for i = 1, #P, 2 do
    keep[P[i]] = true
    if redis.call('HSETNX', K.members, P[i], P[i + 1]) == 1 and countUser(P[i + 1], 1) == 1 then online(1) end
  end
  local members = redis.call('HGETALL', K.members)
  for i = 1, #members, 2 do
    if not keep[members[i]] then
      redis.call('HDEL', K.members, members[i])
      if countUser(members[i + 1], -1) == 0 then emit(leaveBody(members[i + 1])) end
      n = n + 1
    end
  end
  return {'OK', n}
end
return redis.error_reply('unknown op ' .. op)
end

-- Ops that leave something in the room besides its members: it is no longer trivial.
local BUSY = { message = true, likeAdd = true, likeFlush = true, subscribe = true, buy = true, shelf = true, room_state = true, delete_message = true, mute = true, kick = true }

local reply = dispatch()
if BUSY[op] and reply[1] == 'OK' and not head[3] then redis.call('HSET', K.meta, 'busy', '1') end
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
