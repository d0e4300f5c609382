/**
 * The Redis engine's one script. Everything that changes a room runs here, atomically:
 * the check, the new state, the next `seq`, the history entry (a Stream), the dedup record
 * and the PUBLISH that fans the event out, in that order. Events are assembled from JSON
 * fragments the caller encoded, so user data is never decoded and re-encoded by Lua
 * (cjson would round numbers to 14 digits).
 *
 * KEYS  1 epoch  2 meta  3 hist  4 online  5 members (of one process)  6 subs  7 shelf
 *       8 shelf order  9 msgs  10 rooms of that process  11 pending likes  12 like window  13 dedup
 * ARGV  1 op  2 epoch  3 history length  4 channel  5 now (ms)  6 ',"room_id":<json>'  7 room id
 *       8 dedup ttl ms ('0': none)  9 ok-ack head  10 refusal-ack head  11 config title
 *       12 config anchor JSON  13 config anchor uid  14.. op arguments
 *
 * Replies: {'OK', event JSON or ''}, {'NO', code, reason}, {'DUP', ack JSON}, {'EPOCH', epoch or ''}.
 * `sweep` and `resync` reply {'OK', n} with the number of members removed.
 */
export const ROOM_SCRIPT = `
local epoch = redis.call('GET', KEYS[1])
if epoch ~= ARGV[2] then return {'EPOCH', epoch or ''} end

local op = ARGV[1]
local dedup = tonumber(ARGV[8]) > 0

if dedup then
  local earlier = redis.call('GET', KEYS[13])
  if earlier then return {'DUP', earlier} end
end

if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[2], 'seq', 0, 'title', ARGV[11], 'status', 'live', 'anchor', ARGV[12],
    'anchor_uid', ARGV[13], 'like_num', 0, 'shelfn', 0)
end

local function emit(body)
  local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
  local event = body .. ARGV[6] .. ',"seq":' .. seq .. ',"ts":' .. ARGV[5] .. '}'
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], seq .. '-1', 'e', event)
  redis.call('PUBLISH', ARGV[4], event)
  return event, seq
end

local function ok(body)
  local event, seq = '', nil
  if body then event, seq = emit(body) end
  if dedup then
    local ack = ARGV[9]
    if seq then ack = ack .. ',"seq":' .. seq end
    redis.call('SET', KEYS[13], ack .. '}', 'PX', ARGV[8])
  end
  return {'OK', event}
end

local function no(code, reason)
  if dedup then
    redis.call('SET', KEYS[13], ARGV[10] .. ',"code":' .. code .. ',"reason":' .. cjson.encode(reason) .. '}', 'PX', ARGV[8])
  end
  return {'NO', code, reason}
end

local function online(delta)
  local n = redis.call('INCRBY', KEYS[4], delta)
  if n < 0 then
    redis.call('SET', KEYS[4], 0)
    n = 0
  end
  return n
end

local function leaveBody(user)
  local name = cjson.decode(user).name
  return '{"msg_type":"leave","user":' .. user .. ',"online_num":' .. online(-1) .. ',"msg_content":' .. cjson.encode(name .. ' left')
end

-- A membership change without a notice (a crowded room): counted, no seq, no event.
local function quiet()
  if dedup then redis.call('SET', KEYS[13], ARGV[9] .. '}', 'PX', ARGV[8]) end
  return {'QUIET', ''}
end

if op == 'join' then
  -- 14 conn id, 15 user JSON, 16 '1' when an anchor of the room, 17 head, 18 tail, 19 quiet above ('' never)
  if ARGV[16] == '1' and redis.call('HGET', KEYS[2], 'anchor_uid') == '' then
    redis.call('HSET', KEYS[2], 'anchor', ARGV[15], 'anchor_uid', cjson.decode(ARGV[15]).uid)
  end
  if redis.call('HSETNX', KEYS[5], ARGV[14], ARGV[15]) == 0 then return ok(nil) end
  redis.call('SADD', KEYS[10], ARGV[7])
  local n = online(1)
  if ARGV[19] ~= '' and n > tonumber(ARGV[19]) then return quiet() end
  return ok(ARGV[17] .. ',"online_num":' .. n .. ARGV[18])
elseif op == 'leave' then
  -- 14 conn id, 15 quiet above ('' never)
  local user = redis.call('HGET', KEYS[5], ARGV[14])
  if not user then return ok(nil) end
  redis.call('HDEL', KEYS[5], ARGV[14])
  if ARGV[15] ~= '' then
    local n = online(-1)
    if n >= tonumber(ARGV[15]) then return quiet() end
    online(1)
  end
  return ok(leaveBody(user))
elseif op == 'presence' then
  -- 14 event head (msg_type and user), 15 tail (msg_content): the count as it is now
  local n = tonumber(redis.call('GET', KEYS[4]) or '0')
  if n < 0 then n = 0 end
  return ok(ARGV[14] .. ',"online_num":' .. n .. ARGV[15])
elseif op == 'message' then
  -- 14 event body
  local r = ok(ARGV[14])
  redis.call('RPUSH', KEYS[9], r[2])
  redis.call('LTRIM', KEYS[9], -50, -1)
  return r
elseif op == 'likeAdd' then
  -- 14 count, 15 window ms. Replies {'OK', '1'} when the caller must flush the window.
  redis.call('INCRBY', KEYS[11], ARGV[14])
  local flusher = redis.call('SET', KEYS[12], '1', 'NX', 'PX', ARGV[15])
  if dedup then redis.call('SET', KEYS[13], ARGV[9] .. '}', 'PX', ARGV[8]) end
  if flusher then return {'OK', '1'} end
  return {'OK', ''}
elseif op == 'likeFlush' then
  -- 14 '1': only when no window is open (a flusher died)
  if ARGV[14] == '1' and redis.call('EXISTS', KEYS[12]) == 1 then return {'OK', ''} end
  local delta = tonumber(redis.call('GET', KEYS[11]) or '0')
  redis.call('DEL', KEYS[11])
  if delta <= 0 then return {'OK', ''} end
  local total = redis.call('HINCRBY', KEYS[2], 'like_num', delta)
  return ok('{"msg_type":"like","like_num":' .. total .. ',"delta":' .. delta)
elseif op == 'subscribe' then
  -- 14 uid, 15 head, 16 tail
  if redis.call('SADD', KEYS[6], ARGV[14]) == 0 then return ok(nil) end
  return ok(ARGV[15] .. ',"subscribe_num":' .. redis.call('SCARD', KEYS[6]) .. ARGV[16])
elseif op == 'buy' then
  -- 14 goods id, 15 user JSON, 16 user name
  local item = redis.call('HGET', KEYS[7], ARGV[14])
  if not item then return no(4004, 'goods ' .. ARGV[14] .. ' is not on the shelf') end
  local goods = cjson.decode(item)
  return ok('{"msg_type":"buy","user":' .. ARGV[15] .. ',"goods_id":' .. cjson.encode(goods.goods_id) ..
    ',"goods_name":' .. cjson.encode(goods.goods_name) .. ',"msg_content":' .. cjson.encode(ARGV[16] .. ' bought ' .. goods.goods_name))
elseif op == 'shelf' then
  -- 14 goods id, 15 'on' or 'off', 16 item JSON, 17 event body, 18 most goods on the shelf
  if ARGV[15] == 'on' then
    if redis.call('HEXISTS', KEYS[7], ARGV[14]) == 0 and redis.call('HLEN', KEYS[7]) >= tonumber(ARGV[18]) then
      return no(4013, 'the shelf holds ' .. ARGV[18] .. ' goods at most: take some off first')
    end
    redis.call('HSET', KEYS[7], ARGV[14], ARGV[16])
    if not redis.call('ZSCORE', KEYS[8], ARGV[14]) then
      redis.call('ZADD', KEYS[8], redis.call('HINCRBY', KEYS[2], 'shelfn', 1), ARGV[14])
    end
  else
    if redis.call('HDEL', KEYS[7], ARGV[14]) == 0 then return no(4004, 'goods ' .. ARGV[14] .. ' is not on the shelf') end
    redis.call('ZREM', KEYS[8], ARGV[14])
  end
  return ok(ARGV[17])
elseif op == 'room_state' then
  -- 14 status, 15 '1' when a title is given, 16 title
  redis.call('HSET', KEYS[2], 'status', ARGV[14])
  if ARGV[15] == '1' then redis.call('HSET', KEYS[2], 'title', ARGV[16]) end
  local title = redis.call('HGET', KEYS[2], 'title')
  return ok('{"msg_type":"room_state","status":' .. cjson.encode(ARGV[14]) .. ',"title":' .. cjson.encode(title))
elseif op == 'sweep' then
  -- The process owning KEYS[5] is dead: each of its members leaves, with an event.
  local members = redis.call('HGETALL', KEYS[5])
  local n = 0
  for i = 1, #members, 2 do
    emit(leaveBody(members[i + 1]))
    n = n + 1
  end
  redis.call('DEL', KEYS[5])
  redis.call('SREM', KEYS[10], ARGV[7])
  return {'OK', n}
elseif op == 'resync' then
  -- 14.. conn id, user JSON pairs: this process's members as it knows them (after an outage).
  local keep = {}
  local n = 0
  for i = 14, #ARGV, 2 do
    keep[ARGV[i]] = true
    if redis.call('HSETNX', KEYS[5], ARGV[i], ARGV[i + 1]) == 1 then online(1) end
  end
  local members = redis.call('HGETALL', KEYS[5])
  for i = 1, #members, 2 do
    if not keep[members[i]] then
      redis.call('HDEL', KEYS[5], members[i])
      emit(leaveBody(members[i + 1]))
      n = n + 1
    end
  end
  if redis.call('HLEN', KEYS[5]) > 0 then redis.call('SADD', KEYS[10], ARGV[7]) else redis.call('SREM', KEYS[10], ARGV[7]) end
  return {'OK', n}
end
return redis.error_reply('unknown op ' .. op)
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
