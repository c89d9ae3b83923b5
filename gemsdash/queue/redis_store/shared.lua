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
-- Dramatiq message `data` and `created`, its score in `fresh`. store.py leaves out the record only
-- when the message says everything it holds (store.py `_waits_as_message`): a first delivery of a
-- `queued` job of `queue`, message id `id`, with no option but its retries and backoff. nil for any
-- other message (edited by hand, or not this job's): the job is then shown as missing, never
-- guessed. What a reader gets is the same whichever way the job waits; see docs/architecture.md.
local FRESH_ARGS = '],"kwargs":{},"options":{'
local function fresh_record(id, queue, data, created)
    local rq, from = string.match(data, '^{"queue_name":"([^"\\]+)","actor_name":"[^"\\]*","args":%[()')
    if not rq or not string.match(created, "^%d+$") then return nil end
    local priority = "normal"
    if rq ~= queue then
        if string.sub(rq, 1, #queue + 1) ~= queue .. "." then return nil end
        priority = string.sub(rq, #queue + 2)
        if not PRIORITY_QUEUED[priority] then return nil end
    end
    -- The payload ends at the last `],"kwargs"...`: within JSON text a `"` in a string is escaped,
    -- so only the message's own structure, or an object nested in the payload, can hold that text.
    local to = string.find(data, FRESH_ARGS, from, true)
    if not to then return nil end
    while true do
        local further = string.find(data, FRESH_ARGS, to + 1, true)
        if not further then break end
        to = further
    end
    local payload = string.sub(data, from, to - 1)
    -- json.dumps (ensure_ascii) writes printable ASCII only; anything else was not written by it.
    if payload == "" or string.find(payload, "[^ -~]") then return nil end
    local tail = string.sub(data, to + #FRESH_ARGS)
    local retries, low, high, rest = string.match(tail, '^"max_retries":(%d+),"min_backoff":(%d+),"max_backoff":(%d+)(.*)$')
    if not retries then return nil end
    local jitter = string.match(rest, '^,"jitter":([%d.eE+-]+),') or ""
    if jitter ~= "" then rest = string.sub(rest, #jitter + 11) end
    local ending = ',"redis_message_id":"' .. id .. '"},"message_id":"' .. id .. '","message_timestamp":'
    if string.sub(rest, 1, #ending) ~= ending or not string.match(string.sub(rest, #ending + 1), "^%d+}$") then
        return nil
    end
    if jitter ~= "" then jitter = ',"jitter":' .. jitter end
    local kind = "exponential"
    if low == high then kind = "fixed" end
    return '{"state":"queued","queue":"' .. queue .. '","attempts":0,"max_attempts":' .. (tonumber(retries) + 1)
        .. ',"rq":"' .. rq .. '","rmid":"' .. id .. '"}\n["queued",' .. created .. ']\n{"id":"' .. id
        .. '","type":"' .. queue .. '","priority":"' .. priority .. '","payload":"'
        .. string.gsub(payload, '[\\"]', "\\%0") .. '","created_at":' .. created .. ',"backoff":{"type":"' .. kind
        .. '","delay":' .. low .. jitter .. "}}"
end
