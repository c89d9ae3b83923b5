-- gemsdash's hot path: the two transitions every job makes, `start` and `succeed`, for the common
-- case only (a job that runs once and succeeds), as string edits of its record. jobs.lua does every
-- other transition and every case this script does not recognise: it answers "slow" (start) or
-- names the jobs it left (succeed), having written nothing for them, and the store sends those to
-- jobs.lua's command of the same name, so each job's transition is still one atomic script call.
--
-- Why a script of its own: jobs.lua's top-level chunk (60-odd closures, its argument copy) ran on
-- every call, 8.6 us of Redis CPU, and its generic save (cjson decode and encode of the whole
-- record, the null-stripping loop, the timeline table) cost ~45 us more per transition. Here a start
-- is a GET, a SET and two index writes around a few string.match and string.format calls.
--
-- Records: HEAD "\n" TIMELINE "\n" BODY, described in jobs.lua (`decode_record`). A HEAD this script
-- recognises is written in HEAD_FIELDS' order by this script, jobs.lua's `encode_record` and
-- store.py's `encode_record` alike; anything else (a record in the old single-JSON layout, a retry
-- with an error, a run_now copy, a redelivery, a record without a HEAD field it expects) goes slow.
--
-- hot(keys=[namespace], args=[command, ...]); limits (TIMELINE_MAX, BUCKET_MS, BUCKET_TTL_S,
-- PRUNE_BATCH) come from the header store.py prepends (limits.py), keys from keys.py (`--!keys`).

local ns = KEYS[1]
local command = ARGV[1]
local clock = redis.call("time")
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local find, match, sub, format = string.find, string.match, string.sub, string.format
--!keys

-- start(id, rmid, rq, worker, attempt)
-- A worker is about to run a message: "run" when the record was a first-delivery `queued` one, now
-- `running`; "missing" without a record; "slow" for anything else (jobs.lua `start` decides).
if command == "start" then
    local id, rmid, rq, worker, attempt = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
    local key = job_key(id)
    local raw = redis.call("get", key)
    if not raw then return "missing" end
    -- Exactly these fields: no run_now, no error, no times of an earlier run.
    local queue, attempts, most, at = match(raw,
        '^{"state":"queued","queue":"([^"\\]*)","attempts":(%d+),"max_attempts":(%d+),"rq":"[^"\\]*","rmid":"[^"\\]*"}\n()')
    if not queue or not attempt or find(rmid .. rq .. worker, '[%c"\\]') then return "slow" end
    attempts, most = tonumber(attempts), tonumber(most)
    -- A redelivery carrying the same retry count is a new attempt (jobs.lua caps it at the maximum).
    if attempts >= attempt then attempt = attempts + 1 end
    if attempt > most then return "slow" end
    local nl = find(raw, "\n", at, true)
    if not nl then return "slow" end
    local timeline = sub(raw, at, nl - 1)
    -- Every entry starts with `["` (a note's own quotes are escaped), so this counts at least the
    -- entries; a timeline that must lose one to TIMELINE_MAX is trimmed by jobs.lua.
    local _, entries = string.gsub(timeline, '%["', "")
    if entries >= TIMELINE_MAX then return "slow" end
    if timeline ~= "" then timeline = timeline .. "," end
    redis.call("set", key, format(
        '{"state":"running","queue":"%s","attempts":%d,"max_attempts":%d,"rq":"%s","rmid":"%s","started_at":%d,"worker":"%s"}\n%s["running",%d]',
        queue, attempt, most, rq, rmid, now, worker, timeline, now) .. sub(raw, nl))
    redis.call("zrem", idx_key(queue, "queued"), id)
    redis.call("zadd", idx_key(queue, "running"), now, id)
    return "run"

-- succeed(finished_ttl_s, bounds_csv, wait_bounds_csv,
--         [id, result_as_json_string, duration_ms, age_ms, ack_worker, ack_queue, ack_rmid] * n)
-- jobs.lua `succeed` (which documents the arguments and the guarantees) for the records this
-- script recognises: `running` ones that `start` above wrote (the timeline ending queued, running,
-- without notes). A missing or already succeeded record is left alone, its message acked. The
-- result comes quoted as a JSON string (store.py does it), as the record holds it. Returns
-- {written, positions (1-based) of the jobs left to jobs.lua}: neither their records nor their
-- acks are touched here.
elseif command == "succeed" then
    local ttl, bounds, wait_bounds = tonumber(ARGV[2]), ARGV[3], ARGV[4]
    local n = math.floor((#ARGV - 4) / 7)
    if n < 1 then return {0} end
    local keys = {}
    for j = 1, n do keys[j] = job_key(ARGV[5 + (j - 1) * 7]) end
    local records = redis.call("mget", unpack(keys))
    local out = {0}
    local seen, slow = {}, {}
    local held = {}             -- worker -> queue -> rmids to ack
    local moved = {}            -- queue -> {ids leaving running}, {score, id... entering succeeded}
    local counts = {}           -- key -> field -> n (HINCRBY once each)
    local buckets = {}          -- throughput bucket keys (expire)
    local function tally(k, field, v)
        local fields = counts[k]
        if not fields then
            fields = {}
            counts[k] = fields
        end
        fields[field] = (fields[field] or 0) + v
    end
    local function observe(k, ms, csv)
        local slot = "inf"
        for bound in string.gmatch(csv, "[^,]+") do
            if ms <= tonumber(bound) then
                slot = bound
                break
            end
        end
        tally(k, slot, 1)
        tally(k, "sum", ms)
    end
    for j = 1, n do
        local at = 5 + (j - 1) * 7
        local id, raw = ARGV[at], records[j]
        local go = "ack"        -- ack only (missing, done already), write, or leave to jobs.lua
        local queue, same, tl_at, duration
        if slow[id] then
            go = "slow"         -- its first copy in this batch went slow: so does this one
        elseif raw and not seen[id] and sub(raw, 1, 22) ~= '{"state":"succeeded","' then
            queue, same, tl_at = match(raw,
                '^{"state":"running","queue":"([^"\\]*)"(,"attempts":%d+,"max_attempts":%d+,"rq":"[^"\\]*","rmid":"[^"\\]*","started_at":%d+,"worker":"[^"\\]*")}\n()')
            duration = ARGV[at + 2]
            go = "slow"
            if queue and find(duration, "^%d*$") then go = "write" end
        end
        local nl, timeline
        if go == "write" then
            nl = find(raw, "\n", tl_at, true)
            if nl then timeline = sub(raw, tl_at, nl - 1) end
            local _, entries = string.gsub(timeline or "", '%["', "")
            if not timeline or entries >= TIMELINE_MAX then go = "slow" end
        end
        local queued_at, started_at
        if go == "write" then
            queued_at, started_at = match(timeline, '%["queued",(%d+)%],%["running",(%d+)%]$')
            if not queued_at then go = "slow" end
        end
        if go == "slow" then
            slow[id] = true
            out[#out + 1] = j
        else
            local ack_rmid = ARGV[at + 6]
            if ack_rmid ~= "" then  -- none: the broker acked it itself
                local worker, rq = ARGV[at + 4], ARGV[at + 5]
                local by_queue = held[worker]
                if not by_queue then
                    by_queue = {}
                    held[worker] = by_queue
                end
                local rmids = by_queue[rq]
                if not rmids then
                    rmids = {}
                    by_queue[rq] = rmids
                end
                rmids[#rmids + 1] = ack_rmid
            end
        end
        if go == "write" then
            seen[id] = true
            local at_ms = now - math.max(tonumber(ARGV[at + 3]) or 0, 0)
            local head = format('{"state":"succeeded","queue":"%s"%s,"finished_at":%d', queue, same, at_ms)
            if duration ~= "" then head = head .. ',"duration_ms":' .. duration end
            redis.call("set", keys[j], head .. ',"result":' .. ARGV[at + 1] .. "}\n" .. timeline
                .. format(',["succeeded",%d]', at_ms) .. sub(raw, nl), "EX", ttl)
            local m = moved[queue]
            if not m then
                m = {{}, {}}
                moved[queue] = m
            end
            m[1][#m[1] + 1] = id
            m[2][#m[2] + 1] = at_ms
            m[2][#m[2] + 1] = id
            -- The counters of jobs.lua's conclude/observe_wait/count_finished, for a success.
            if wait_bounds ~= "" then
                observe(wait_key(queue), math.max(tonumber(started_at) - tonumber(queued_at), 0), wait_bounds)
            end
            local bucket = tp_key(queue, math.floor(at_ms / BUCKET_MS))
            buckets[bucket] = true
            tally(bucket, "ok", 1)
            tally(totals_key, queue .. ":succeeded", 1)
            tally(totals_key, queue .. ":attempt:succeeded", 1)
            if duration ~= "" then
                local ms = tonumber(duration)
                observe(hist_key(queue), ms, bounds)
                tally(bucket, "ms", ms)
                tally(bucket, "timed", 1)
            end
            out[1] = out[1] + 1
        end
    end
    -- The acks, as jobs.lua `succeed` does them: only messages still held (recovery may have
    -- requeued one meanwhile) leave the ack set and the .msgs hash.
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
    for queue, m in pairs(moved) do
        redis.call("zrem", idx_key(queue, "running"), unpack(m[1]))
        local key = idx_key(queue, "succeeded")
        redis.call("zadd", key, unpack(m[2]))
        -- jobs.lua `prune`: index entries of expired records, bounded.
        local stale = redis.call("zrangebyscore", key, "-inf", now - ttl * 1000, "LIMIT", 0, PRUNE_BATCH)
        if #stale > 0 then
            redis.call("zrem", key, unpack(stale))
            redis.call("zrem", ids_key, unpack(stale))
            redis.call("zrem", all_states_key(queue), unpack(stale))
        end
    end
    for k, fields in pairs(counts) do
        for field, v in pairs(fields) do redis.call("hincrby", k, field, v) end
        if buckets[k] then redis.call("expire", k, BUCKET_TTL_S) end
    end
    return out
end

return redis.error_reply("unknown command " .. tostring(command))
