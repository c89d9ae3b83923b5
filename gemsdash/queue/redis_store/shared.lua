-- What hot.lua and jobs.lua both do, written once: store.py splices this file in at their
-- `--!shared` line, after their `--!keys` locals and their `now`.

-- Drops the entries of a finished state's index `key` whose records have expired (`ttl` seconds),
-- from it, the id-prefix index and the queue's all-states view; bounded so no call runs long.
local function prune_index(queue, key, ttl)
    local stale = redis.call("zrangebyscore", key, "-inf", now - ttl * 1000, "LIMIT", 0, PRUNE_BATCH)
    if #stale > 0 then
        redis.call("zrem", key, unpack(stale))
        redis.call("zrem", ids_key, unpack(stale))
        redis.call("zrem", all_states_key(queue), unpack(stale))
    end
end

-- Dramatiq's acks of a batch of finished messages (jobs.lua's and hot.lua's `succeed`).
-- held: worker -> physical queue -> redis message ids. Only messages still held (recovery may have
-- requeued one meanwhile) leave the worker's ack set and the queue's .msgs hash, as
-- settle_message does one by one; each worker's heartbeat is refreshed once.
local function ack_held(held)
    for worker, by_queue in pairs(held) do
        for rq, rmids in pairs(by_queue) do
            local acks, mine = acks_key(worker, rq), {}
            for j, is_held in ipairs(redis.call("smismember", acks, unpack(rmids))) do
                if is_held == 1 then mine[#mine + 1] = rmids[j] end
            end
            if #mine > 0 then
                redis.call("srem", acks, unpack(mine))
                redis.call("hdel", msgs_key(rq), unpack(mine))
            end
        end
        redis.call("zadd", heartbeats_key, now, worker)
    end
end

-- A job that waits with no record yet (keys.py `fresh`): the record store.py's `submit` would have
-- written for it (its `encode_record`, byte for byte: tests/core/test_fresh_jobs.py), built from its
-- Dramatiq message `data` and `created`, its score in `fresh`; with `worker` (and `now_text`), the
-- record hot.lua's `running_record` would make of that one as `worker` starts it, without making
-- it first. store.py leaves out the record only when the message says everything it holds
-- (store.py `_waits_as_message`): a first delivery of a `queued` job of `queue`, message id `id`,
-- with no option but its retries and backoff. nil for any other message (edited by hand, or not
-- this job's): the job then reads as missing, never as a guess. See README, "How it works".
--
-- Every new string costs Redis's Lua about 9 instructions a byte (it hashes all of it), so the
-- message is matched in place (patterns from a position) and only the payload is copied out.
local FRESH_ARGS = '],"kwargs":{},"options":{'
-- A message's max_retries -> the record's max_attempts, as text.
local ATTEMPTS_TEXT = {["0"] = "1", ["1"] = "2", ["2"] = "3", ["3"] = "4", ["4"] = "5", ["5"] = "6", ["6"] = "7",
    ["7"] = "8", ["8"] = "9", ["9"] = "10", ["10"] = "11"}

local function fresh_record(id, queue, data, created, worker, now_text)
    -- {"queue_name":"<rq>","actor_name":"<name>","args":[<payload>],"kwargs":{},"options":{...}...
    -- (plain finds: a pattern costs about 75 instructions a character)
    if string.find(data, '{"queue_name":"', 1, true) ~= 1 then return nil end
    local at = string.find(data, '"', 16, true)
    if not at or string.find(data, '","actor_name":"', at, true) ~= at then return nil end
    local rq = string.sub(data, 16, at - 1)
    at = string.find(data, '"', at + 16, true)
    if not at or string.find(data, '","args":[', at, true) ~= at then return nil end
    local from = at + 10
    if string.find(rq, "\\", 1, true) or not string.match(created, "^%d+$") then return nil end
    local priority = "normal"
    if rq ~= queue then
        if string.sub(rq, 1, #queue + 1) ~= queue .. "." then return nil end
        priority = string.sub(rq, #queue + 2)
        if not PRIORITY_QUEUED[priority] then return nil end
    end
    -- The payload ends at the last `],"kwargs"...`: within JSON text a `"` in a string is escaped,
    -- so only the message's own structure, or an object nested in the payload, can hold that text.
    local to = string.find(data, FRESH_ARGS, from, true)
    if not to or to == from then return nil end
    while true do
        local further = string.find(data, FRESH_ARGS, to + 1, true)
        if not further then break end
        to = further
    end
    local retries, low, high
    retries, low, high, at = string.match(
        data, '^"max_retries":(%d+),"min_backoff":(%d+),"max_backoff":(%d+)()', to + #FRESH_ARGS)
    if not retries then return nil end
    local jitter, after = string.match(data, '^,"jitter":([%d.eE+-]+)()', at)
    if jitter then at = after end
    local ending = ',"redis_message_id":"' .. id .. '"},"message_id":"' .. id .. '","message_timestamp":'
    if string.find(data, ending, at, true) ~= at or not string.match(data, "^%d+}$", at + #ending) then
        return nil
    end
    -- The payload as a JSON string is Lua's %q of it (a `"` and a `\` escaped, in C), as long as
    -- it holds no newline and no NUL, which %q writes otherwise (json.dumps writes neither; a
    -- message edited by hand may). Other raw control characters cjson and store.py's readers take
    -- as they are. A gsub, or a pattern scan for every control character, cost 130-190
    -- instructions a byte: more than the rest of the fetch.
    local payload = string.sub(data, from, to - 1)
    if string.find(payload, "\n", 1, true) or string.find(payload, "\0", 1, true) then return nil end
    local kind = "exponential"
    if low == high then kind = "fixed" end
    -- (max_attempts as text: a number in a concatenation is printed with sprintf, ~1.9k
    -- instructions; the usual retry counts are looked up instead)
    local most = ATTEMPTS_TEXT[retries] or string.format("%d", tonumber(retries) + 1)
    local jitter_part = jitter and ',"jitter":' .. jitter or ""
    local quoted = string.format("%q", payload)
    if worker then
        return '{"state":"running","queue":"' .. queue .. '","attempts":1,"max_attempts":' .. most .. ',"rq":"'
            .. rq .. '","rmid":"' .. id .. '","started_at":' .. now_text .. ',"worker":"' .. worker
            .. '"}\n["queued",' .. created .. '],["running",' .. now_text .. ']\n{"id":"' .. id .. '","type":"' .. queue
            .. '","priority":"' .. priority .. '","payload":' .. quoted .. ',"created_at":' .. created
            .. ',"backoff":{"type":"' .. kind .. '","delay":' .. low .. jitter_part .. "}}"
    end
    return '{"state":"queued","queue":"' .. queue .. '","attempts":0,"max_attempts":' .. most .. ',"rq":"' .. rq
        .. '","rmid":"' .. id .. '"}\n["queued",' .. created .. ']\n{"id":"' .. id .. '","type":"' .. queue
        .. '","priority":"' .. priority .. '","payload":' .. quoted .. ',"created_at":' .. created
        .. ',"backoff":{"type":"' .. kind .. '","delay":' .. low .. jitter_part .. "}}"
end
