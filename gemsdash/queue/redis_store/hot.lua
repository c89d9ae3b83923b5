-- gemsdash's hot path: the two transitions every job makes, `start` and `succeed`, for the common
-- case only (a job that runs once and succeeds), as string edits of its record. jobs.lua does every
-- other transition and every case this script does not recognise: it answers "slow" (start) or
-- names the jobs it left (succeed), having written nothing for them, and the store sends those to
-- jobs.lua's command of the same name, so each job's transition is still one atomic script call.
--
-- Why a script of its own: jobs.lua's top-level chunk (60-odd closures, its argument copy) ran on
-- every call, 8.6 us of Redis CPU, and its generic save (cjson decode and encode of the whole
-- record, the null-stripping loop, the timeline table) cost ~45 us more per transition. Here a start
-- is a GET, a SET and two index writes around one string.match and one concatenation: redis-server
-- runs 115k instructions for it, 250k for jobs.lua's (benchmarks/hot_calls.py --callgrind).
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
local find, match, sub, format, tonumber = string.find, string.match, string.sub, string.format, tonumber
-- `now` as text, cut from TIME's own digits: Lua writes a number with sprintf (a number given to
-- redis.call too), which cost more than the rest of a stamp's handling; so do string.format's
-- directives, hence the concatenations below. Every byte of a new Lua string is hashed (Redis's Lua
-- hashes whole strings), so the scripts make as few and as short strings as they can.
local now_text = clock[1] .. sub(sub("00000", #clock[2]) .. clock[2], 1, 3)
--!keys
--!shared

-- A timeline that may hold TIMELINE_MAX entries already is left to jobs.lua (which trims it). Each
-- entry with its comma takes at least 11 bytes (`["dead",1],`), so a shorter one holds fewer;
-- counting them instead cost as much as the rest of the string work.
local TIMELINE_ROOM = 11 * (TIMELINE_MAX - 1) - 1

-- The record `raw` of a first-delivery `queued` job made `running` by `worker` (its message `rmid`
-- on the physical queue `rq`, its attempt `attempt`, written `attempt_text`), and the job's queue;
-- nil for any other record (jobs.lua `start` decides those), and for a record whose message is
-- another (its rq and rmid are not these). rq and worker go into the record as they are: store.py
-- sends only JSON-safe ones here; rmid is already in the record.
--
-- Why it reads as it does (redis-server instructions, callgrind): Lua's pattern matching costs about
-- 75 a character of pattern and more for a class, and every new string about 9 a byte (this Lua
-- hashes all of a string); so the record's variable fields are matched, its message (rq, rmid) is
-- compared as one plain find, and the body is copied once.
local function running_record(raw, rmid, rq, worker, attempt, attempt_text)
    -- Exactly these fields: no run_now, no error, no times of an earlier run.
    local queue, attempts, most, at = match(raw,
        '^{"state":"queued","queue":"([^"\\]*)","attempts":(%d+),"max_attempts":(%d+)()')
    if not queue or not attempt then return nil end
    local tail = ',"rq":"' .. rq .. '","rmid":"' .. rmid .. '"}\n'
    if find(raw, tail, at, true) ~= at then return nil end
    at = at + #tail
    attempts = tonumber(attempts)
    -- A redelivery carrying the same retry count is a new attempt (jobs.lua caps it at the maximum).
    if attempts >= attempt then attempt = attempts + 1 end
    if attempt > tonumber(most) then return nil end
    local nl = find(raw, "\n", at, true)
    if not nl or nl - at > TIMELINE_ROOM then return nil end
    local timeline = ""
    if nl > at then timeline = sub(raw, at, nl - 1) .. "," end
    if attempt ~= tonumber(attempt_text) then attempt_text = format("%d", attempt) end
    return '{"state":"running","queue":"' .. queue .. '","attempts":' .. attempt_text
        .. ',"max_attempts":' .. most .. ',"rq":"' .. rq .. '","rmid":"' .. rmid .. '","started_at":' .. now_text
        .. ',"worker":"' .. worker .. '"}\n' .. timeline .. '["running",' .. now_text .. "]" .. sub(raw, nl), queue
end

-- start(id, rmid, rq, worker, attempt, queue), rmid, rq and worker printable without `"` or `\`
-- A worker is about to run a message: "run" when the record was a first-delivery `queued` one, now
-- `running`; "missing" without a record; "slow" for anything else (jobs.lua `start` decides). A
-- job that waits with no record (in `queue`'s `fresh`) gets its record from its message here, as
-- `fetch` below does; an older caller sends no queue, and such a job then goes slow.
if command == "start" then
    local id, rmid, rq, worker, queue = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7] or ""
    local key = job_key(id)
    local raw = redis.call("get", key)
    local record, job_queue, created = nil, queue, nil
    if raw then
        record, job_queue = running_record(raw, rmid, rq, worker, tonumber(ARGV[6]), ARGV[6])
    else
        -- (its first delivery: attempt 1)
        created = queue ~= "" and rmid == id and ARGV[6] == "1" and redis.call("zscore", fresh_key(queue), id)
        local data = created and redis.call("hget", msgs_key(rq), rmid)
        record = data and fresh_record(id, queue, data, created, worker, now_text)
        if not record then
            if redis.call("zscore", ids_key, id) then return "slow" end
            return "missing"
        end
    end
    if not record then return "slow" end
    redis.call("set", key, record)
    if created then
        redis.call("zrem", fresh_key(job_queue), id)
        redis.call("zadd", all_states_key(job_queue), created, id)
    else
        redis.call("zrem", idx_key(job_queue, "queued"), id)
    end
    redis.call("zadd", idx_key(job_queue, "running"), now_text, id)
    return "run"

-- fetch(rq, prefetch, broker_id, worker, start_max, token, queue), rq and worker printable without `"`
-- or `\`, queue the job type's queue that rq is a priority level of
-- Dramatiq's fetch (dispatch.lua's, batched: its heartbeat, LPOP, SADD to the broker's ack set,
-- HMGET) with `start` folded in: the first `start_max` fetched messages' first-delivery `queued`
-- records are made `running` here, as `start` above would, their index writes batched (the worker
-- asks for as many as it expects to begin at once: middleware/early_start.py). Returns {messages
-- (as Dramatiq's fetch returns them), [redis message id, job id] of each message whose record it
-- started}. A first delivery's redis message id is its job's id (store.py `submit`), so the record
-- is looked up by it, and taken only when it names this message as its own (`running_record`) and
-- the message ends with that id (Dramatiq's encoding ends with it and the timestamp; no payload can
-- fake it; looked for in the last 128 bytes). A job that waits with no record (its id in the
-- queue's `fresh`) gets its record here, built from the message (shared.lua `fresh_record`), and
-- leaves `fresh` for the all-states index. Any other message (a retry's or a delayed job's has a
-- redis message id of its own), any record `running_record` does not recognise and the messages
-- past `start_max` are left to the worker's own `start`. An empty `worker` or a `start_max` of 0:
-- fetch only. A fetch that took messages keeps what it took (MessagePack of [token, rmids, which
-- it started as a string of "1" and "0"]) in the `fetched` key for `refetch` below.
elseif command == "fetch" then
    local rq, prefetch, broker, worker = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
    local start_max, token, job_queue = tonumber(ARGV[6]) or 0, ARGV[7] or "", ARGV[8] or ""
    -- (a local function: the reply and its record share one exit below)
    local function took(messages, rmids, started, flags)
        if token ~= "" then
            redis.call("set", fetched_key(broker, rq), cmsgpack.pack({token, rmids, table.concat(flags)}), "EX", "3600")
        end
        return {messages, started}
    end
    -- (Numbers go to redis.call as text: a Lua number is printed with sprintf, ~1.9k instructions.)
    redis.call("zadd", heartbeats_key, now_text, broker)
    local rmids = prefetch > 0 and redis.call("lpop", queue_key(rq), ARGV[3])
    if not rmids or #rmids == 0 then return {{}, {}} end
    redis.call("sadd", acks_key(broker, rq), unpack(rmids))
    local messages = redis.call("hmget", msgs_key(rq), unpack(rmids))
    local started, flags = {}, {}
    if worker == "" or start_max < 1 then return took(messages, rmids, started, flags) end
    local keys, at, seen = {}, {}, {}
    for j = 1, math.min(#messages, start_max) do
        local data, rmid = messages[j], rmids[j]
        flags[j] = "0"
        if data and not seen[rmid] then  -- two copies of a job in one fetch: the worker decides
            local from = #data - 127
            if from < 1 then from = 1 end
            if find(data, '"message_id":"' .. rmid .. '","message_timestamp":', from, true) then
                seen[rmid] = true
                keys[#keys + 1] = job_key(rmid)
                at[#at + 1] = j
            end
        end
    end
    if #keys == 0 then return took(messages, rmids, started, flags) end
    local records = redis.call("mget", unpack(keys))
    local missing = {}
    for k = 1, #keys do
        if not records[k] then missing[#missing + 1] = k end
    end
    local created = {}
    if #missing > 0 and job_queue ~= "" then
        local ids = {}
        for m, k in ipairs(missing) do ids[m] = rmids[at[k]] end
        for m, score in ipairs(redis.call("zmscore", fresh_key(job_queue), unpack(ids))) do
            if score then
                local k = missing[m]
                records[k] = fresh_record(ids[m], job_queue, messages[at[k]], score, worker, now_text)
                created[k] = records[k] and score
            end
        end
    end
    local per_queue = {}
    for k = 1, #keys do
        local raw, j = records[k], at[k]
        local rmid = rmids[j]
        local record, queue = nil, nil
        if created[k] then
            record, queue = raw, job_queue
        elseif raw then
            record, queue = running_record(raw, rmid, rq, worker, 1, "1")
        end
        if record then
            redis.call("set", keys[k], record)
            local q = per_queue[queue]
            if not q then
                q = {left = {}, entered = {}, fresh = {}, created = {}}
                per_queue[queue] = q
            end
            if created[k] then
                q.fresh[#q.fresh + 1] = rmid
                q.created[#q.created + 1] = created[k]
                q.created[#q.created + 1] = rmid
            else
                q.left[#q.left + 1] = rmid
            end
            q.entered[#q.entered + 1] = now_text
            q.entered[#q.entered + 1] = rmid
            started[#started + 1] = rmid
            started[#started + 1] = rmid
            flags[j] = "1"
        end
    end
    for queue, q in pairs(per_queue) do
        if #q.left > 0 then redis.call("zrem", idx_key(queue, "queued"), unpack(q.left)) end
        if #q.fresh > 0 then
            redis.call("zrem", fresh_key(queue), unpack(q.fresh))
            redis.call("zadd", all_states_key(queue), unpack(q.created))
        end
        redis.call("zadd", idx_key(queue, "running"), unpack(q.entered))
    end
    return took(messages, rmids, started, flags)

-- refetch(rq, broker_id, token)
-- What the fetch `token` of the consumer of rq in broker_id took, again, when its reply was lost
-- (the connection broke after Redis ran it): the messages still in the broker's ack set, as `fetch`
-- returns them, with the records it started among them. Without this they would wait in a live
-- worker's ack set, where crash recovery never looks, until the worker stops. {{}, {}} when the
-- fetch never ran (or took nothing): another token, or none, is kept.
elseif command == "refetch" then
    local rq, broker, token = ARGV[2], ARGV[3], ARGV[4]
    local kept = redis.call("get", fetched_key(broker, rq))
    if not kept then return {{}, {}} end
    local ok, took = pcall(cmsgpack.unpack, kept)
    if not ok or type(took) ~= "table" or took[1] ~= token or type(took[2]) ~= "table" or #took[2] == 0
        or type(took[3]) ~= "string" then
        return {{}, {}}
    end
    local rmids, flags, mine, started = took[2], took[3], {}, {}
    for _, rmid in ipairs(rmids) do
        if type(rmid) ~= "string" then return {{}, {}} end
    end
    for j, is_held in ipairs(redis.call("smismember", acks_key(broker, rq), unpack(rmids))) do
        if is_held == 1 then
            mine[#mine + 1] = rmids[j]
            -- (a job its fetch started has the message's redis message id as its id)
            if sub(flags, j, j) == "1" then
                started[#started + 1] = rmids[j]
                started[#started + 1] = rmids[j]
            end
        end
    end
    if #mine == 0 then return {{}, {}} end
    return {redis.call("hmget", msgs_key(rq), unpack(mine)), started}

-- succeed(finished_ttl_s, bounds_csv, wait_bounds_csv,
--         [id, result_as_json_string, duration_ms, age_ms, ack_worker, ack_queue, ack_rmid] * n)
-- jobs.lua `succeed` (which documents the arguments and the guarantees) for the records this
-- script recognises: `running` ones that `start` above wrote (the timeline ending queued, running,
-- without notes). A missing or already succeeded record is left alone, its message acked. The
-- result comes quoted as a JSON string (store.py does it), as the record holds it. Returns
-- {written, positions (1-based) of the jobs left to jobs.lua}: neither their records nor their
-- acks are touched here.
elseif command == "succeed" then
    local ttl = tonumber(ARGV[2])
    local n = math.floor((#ARGV - 4) / 7)
    if n < 1 then return {0} end
    local keys = {}
    for j = 1, n do keys[j] = job_key(ARGV[5 + (j - 1) * 7]) end
    local records = redis.call("mget", unpack(keys))
    -- The histograms' bounds as numbers, read once per call: {numbers, their text}; the ones
    -- limits.py knows are written out in the header (`known_bounds`).
    local function bounds_of(csv)
        local known = known_bounds(csv)
        if known then return known end
        local numbers, names = {}, {}
        for bound in string.gmatch(csv, "[^,]+") do
            numbers[#numbers + 1] = tonumber(bound)
            names[#names + 1] = bound
        end
        names[#names + 1] = "inf"
        return {numbers, names}
    end
    local duration_bounds, wait_bounds = nil, nil
    local observe_wait = ARGV[4] ~= ""
    -- The slot of `ms` in `bounds` (its position in names; past the last bound, "inf").
    local function slot(bounds, ms)
        local numbers = bounds[1]
        for b = 1, #numbers do
            if ms <= numbers[b] then return b end
        end
        return #numbers + 1
    end
    local out = {0}
    local seen, slow = {}, {}
    local held = {}             -- worker -> queue -> rmids to ack
    -- Per queue: the ids leaving `running`, {score, id...} entering `succeeded`, and the counts
    -- (jobs.lua conclude/observe_wait/count_finished for a success), written once per call.
    local per_queue = {}
    for j = 1, n do
        local at = 5 + (j - 1) * 7
        local id, raw = ARGV[at], records[j]
        local go = "ack"        -- ack only (missing, done already), write, or leave to jobs.lua
        local queue, head_a, began, head_b, tl_at, duration, nl, queued_at, started_at
        if slow[id] then
            go = "slow"         -- its first copy in this batch went slow: so does this one
        elseif raw and not seen[id] then
            -- (A running record is the common case: the check for a succeeded one, a copy of the
            -- record's first bytes, only when this match fails.)
            queue, head_a, began, head_b, tl_at = match(raw,
                '^{"state":"running","queue":"([^"\\]*)"(,"attempts":%d+,"max_attempts":%d+,"rq":"[^"\\]*","rmid":"[^"\\]*","started_at":)(%d+)(,"worker":"[^"\\]*")}\n()')
            if queue or sub(raw, 1, 22) ~= '{"state":"succeeded","' then go = "slow" end
            duration = ARGV[at + 2]
            if queue and find(duration, "^%d*$") then
                -- The wait histogram's two stamps: the last two entries, without notes. A first
                -- delivery's timeline is exactly those two, matched where it begins (no copy of
                -- its tail, no scan for where the pair starts: ~2k instructions a job); a longer
                -- one (a delayed job's, a retry's) by its last 64 bytes.
                queued_at, started_at, nl = match(raw, '^%["queued",(%d+)%],%["running",(%d+)%]()\n', tl_at)
                if queued_at then
                    go = "write"
                else
                    nl = find(raw, "\n", tl_at, true)
                    if nl and nl - tl_at <= TIMELINE_ROOM then
                        local tail = sub(raw, math.max(tl_at, nl - 64), nl - 1)
                        queued_at, started_at = match(tail, '%["queued",(%d+)%],%["running",(%d+)%]$')
                        if queued_at then go = "write" end
                    end
                end
            end
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
            local at_ms, at_text = now, now_text
            local age = tonumber(ARGV[at + 3]) or 0
            if age > 0 then
                at_ms = now - age
                at_text = format("%d", at_ms)
            end
            local timed = ""
            local timeline = sub(raw, tl_at, nl - 1)
            if duration ~= "" then
                timed = ',"duration_ms":' .. duration
                -- A job its fetch started (`fetch` above) may have waited in the worker's memory
                -- before it began: its real start is its end less its run time, later than the
                -- fetch's stamp, and the record (started_at, the `running` entry) and the wait
                -- histogram take that one. (A `start` call's stamp is at most a moment earlier.)
                local real = at_ms - tonumber(duration)
                if real > tonumber(started_at) + 1 then
                    local real_text = format("%d", real)
                    timeline = sub(timeline, 1, #timeline - #started_at - 1) .. real_text .. "]"
                    began, started_at = real_text, real_text
                end
            end
            redis.call("set", keys[j], '{"state":"succeeded","queue":"' .. queue .. '"' .. head_a .. began .. head_b
                .. ',"finished_at":' .. at_text .. timed .. ',"result":' .. ARGV[at + 1] .. "}\n" .. timeline
                .. ',["succeeded",' .. at_text .. "]" .. sub(raw, nl), "EX", ARGV[2])
            local q = per_queue[queue]
            if not q then
                q = {left = {}, entered = {}, n = 0, hist = {}, hist_sum = 0, wait = {}, wait_sum = 0, buckets = {}}
                per_queue[queue] = q
            end
            q.left[#q.left + 1] = id
            q.entered[#q.entered + 1] = at_text
            q.entered[#q.entered + 1] = id
            q.n = q.n + 1
            if observe_wait then
                wait_bounds = wait_bounds or bounds_of(ARGV[4])
                local ms = math.max(tonumber(started_at) - tonumber(queued_at), 0)
                local b = slot(wait_bounds, ms)
                q.wait[b] = (q.wait[b] or 0) + 1
                q.wait_sum = q.wait_sum + ms
            end
            local number = math.floor(at_ms / BUCKET_MS)
            local bucket = q.buckets[number]
            if not bucket then
                bucket = {0, 0, 0}  -- ok, ms, timed
                q.buckets[number] = bucket
            end
            bucket[1] = bucket[1] + 1
            if duration ~= "" then
                local ms = tonumber(duration)
                duration_bounds = duration_bounds or bounds_of(ARGV[3])
                local b = slot(duration_bounds, ms)
                q.hist[b] = (q.hist[b] or 0) + 1
                q.hist_sum = q.hist_sum + ms
                bucket[2] = bucket[2] + ms
                bucket[3] = bucket[3] + 1
            end
            out[1] = out[1] + 1
        end
    end
    ack_held(held)  -- shared.lua
    for queue, q in pairs(per_queue) do
        redis.call("zrem", idx_key(queue, "running"), unpack(q.left))
        local key = idx_key(queue, "succeeded")
        redis.call("zadd", key, unpack(q.entered))
        prune_index(queue, key, ttl)  -- shared.lua
        redis.call("hincrby", totals_key, queue .. ":succeeded", q.n)
        redis.call("hincrby", totals_key, queue .. ":attempt:succeeded", q.n)
        for number, bucket in pairs(q.buckets) do
            local tp = tp_key(queue, format("%d", number))
            -- Its expiry is set by the call that makes its "ok" (a bucket's first successes), as by
            -- jobs.lua's for its first failures: an EXPIRE a call cost as much as a counter.
            if redis.call("hincrby", tp, "ok", bucket[1]) == bucket[1] then redis.call("expire", tp, BUCKET_TTL_S) end
            if bucket[3] > 0 then
                redis.call("hincrby", tp, "ms", bucket[2])
                redis.call("hincrby", tp, "timed", bucket[3])
            end
        end
        for b, count in pairs(q.hist) do redis.call("hincrby", hist_key(queue), duration_bounds[2][b], count) end
        if q.hist_sum > 0 or next(q.hist) then redis.call("hincrby", hist_key(queue), "sum", q.hist_sum) end
        for b, count in pairs(q.wait) do redis.call("hincrby", wait_key(queue), wait_bounds[2][b], count) end
        if next(q.wait) then redis.call("hincrby", wait_key(queue), "sum", q.wait_sum) end
    end
    return out
end

return redis.error_reply("unknown command " .. tostring(command))
