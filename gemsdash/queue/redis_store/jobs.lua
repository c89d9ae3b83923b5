-- gemsdash job-state store: every state change of a job is one call of this script, so the record,
-- its state index, the counters behind them and (where the change moves work) Dramatiq's own queue
-- keys change together or not at all. The two every job makes, `start` and `succeed`, are one call
-- of hot.lua instead when it recognises the record (the common case); the store sends the rest here.
--
-- jobs(keys=[namespace], args=[command, job_queues_csv, finished_ttl_s, dead_ttl_s, ...command args])
--
-- Every time the script writes or compares (heartbeats, recovery deadlines, timelines, index scores)
-- is Redis's own clock (TIME), never the caller's: a worker whose clock is off by seconds would
-- otherwise see live workers as dead, or write timelines out of order.
--
-- Keys: named in gemsdash/queue/keys.py (ours and Dramatiq's, described there), which splices them
-- in at the `--!keys` line below as `<name>_key` locals built on ns, the namespace (shared with
-- Dramatiq's RedisBroker so its keys sit beside ours).

local ns = KEYS[1]
local command = ARGV[1]
local clock = redis.call("time")
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- The job types' queues: where `load` looks for a job that waits with no record (`fresh`).
local job_queues = ARGV[2]
local finished_ttl = tonumber(ARGV[3])
local dead_ttl = tonumber(ARGV[4])
local A = {}
for i = 5, #ARGV do
    A[#A + 1] = ARGV[i]
end

-- TIMELINE_MAX, AUDIT_MAX, BUCKET_MS, BUCKET_TTL_S, SEARCH_WINDOW, PRUNE_BATCH and COMPARE_MAX are
-- locals of a header the store generates from gemsdash/queue/limits.py and prepends to this script.

--!keys
--!shared
local function is_due_state(state) return state == "delayed" or state == "retrying" end
-- Housekeeping of many keys that periodic calls (a heartbeat every few seconds per worker,
-- recovery's sweep) do for one key per call, in turn by Redis's clock's second, instead of for
-- every key every time: an idle worker otherwise spent most of its Redis commands pruning sets
-- that had nothing to prune. Returns the position (1..n) whose turn it is.
local function in_turn(n) return math.floor(now / 1000) % n + 1 end
local function set_of(csv)
    local s = {}
    for item in string.gmatch(csv, "[^,]+") do s[item] = true end
    return s
end

-- A record is HEAD "\n" TIMELINE "\n" BODY (JSON text never holds a raw newline): HEAD the fields a
-- transition changes, as a JSON object in HEAD_FIELDS' order with the state first; TIMELINE the
-- timeline's entries, comma-separated, without the brackets; BODY the rest (id, type, payload...),
-- written once. hot.lua's `start` and `succeed` then edit a record with string operations, not a
-- cjson decode and encode of the whole of it (~19 us a transition). A record without a newline is
-- one JSON object, as older versions write it (and this one while an older worker is alive): read
-- as before and written back in that layout, so the older workers of a rolling upgrade can read it.
-- The same list is HEAD_FIELDS in gemsdash/queue/store.py (tests/core/test_record_layout.py).
local HEAD_FIELDS = {"state", "queue", "attempts", "max_attempts", "rq", "rmid", "started_at", "worker",
    "finished_at", "next_attempt_at", "duration_ms", "run_now", "error", "result"}
local IN_HEAD = {timeline = true}
for _, k in ipairs(HEAD_FIELDS) do IN_HEAD[k] = true end
-- BODY text of the records decoded by this call, reused by `encode_record`: no command changes a
-- BODY field of a record it loaded, so the payload is not encoded again.
local bodies = {}
-- Records decoded by this call that were in the old layout (one JSON object): written back in it,
-- so an older worker, which reads only that layout, can still read them. Python writes new records
-- in the old layout while an older worker is alive (store.py `_older_workers`), and they keep it.
local old_layout = {}

local function decode_record(raw)
    local a = string.find(raw, "\n", 1, true)
    if not a then
        local job = cjson.decode(raw)
        if type(job) == "table" then old_layout[job] = true end
        return job
    end
    local b = string.find(raw, "\n", a + 1, true)
    local body = string.sub(raw, b + 1)
    local job = cjson.decode(body)
    for k, v in pairs(cjson.decode(string.sub(raw, 1, a - 1))) do job[k] = v end
    job.timeline = cjson.decode("[" .. string.sub(raw, a + 1, b - 1) .. "]")
    bodies[job] = body
    return job
end

-- Absent instead of null (nulls are left out): a finished record then fits a smaller allocation.
local function encode_record(job)
    if old_layout[job] then return cjson.encode(job) end
    local head = {}
    for _, k in ipairs(HEAD_FIELDS) do
        local v = job[k]
        if v ~= nil and v ~= cjson.null then head[#head + 1] = '"' .. k .. '":' .. cjson.encode(v) end
    end
    local entries = {}
    for _, e in ipairs(job.timeline) do
        if type(e) == "table" then
            if e[3] ~= nil and e[3] ~= cjson.null then
                entries[#entries + 1] = cjson.encode({e[1], e[2], e[3]})
            else
                entries[#entries + 1] = cjson.encode({e[1], e[2]})
            end
        end
    end
    local body = bodies[job]
    if not body then
        local rest = {}
        for k, v in pairs(job) do
            if not IN_HEAD[k] and v ~= cjson.null then rest[k] = v end
        end
        body = cjson.encode(rest)
    end
    return "{" .. table.concat(head, ",") .. "}\n" .. table.concat(entries, ",") .. "\n" .. body
end

-- The record of a job of `queue` that waits with no record yet (keys.py `fresh`), built from its
-- message (shared.lua `fresh_record`), or nil.
local function fresh_text(id, queue)
    local created = redis.call("zscore", fresh_key(queue), id)
    if not created then return nil end
    for _, level in ipairs(PRIORITY_LEVELS) do
        local rq = queue
        if level ~= "normal" then rq = queue .. "." .. level end
        local data = redis.call("hget", msgs_key(rq), id)
        if data then return fresh_record(id, queue, data, created) end
    end
    return nil
end

-- The job a Dramatiq message is for: its message_id (a job's id; a copy's Redis message id is its
-- own), the field before the timestamp that ends Dramatiq's encoding. Matched in the last 200
-- bytes, not decoded: a message may be megabytes, and no payload can fake the end of it. nil for a
-- message not in that encoding.
local function message_job_id(data)
    return string.match(data, ',"message_id":"([^"\\]+)","message_timestamp":%d+}$', math.max(1, #data - 200))
end

-- Jobs `load` built from their message: id -> queue, until `save` writes their record (and takes
-- them out of `fresh`).
local fresh_in = {}

-- A job's record, or nil; `queue`, when known, saves looking in every queue's `fresh`.
local function load(id, queue)
    local raw = redis.call("get", job_key(id))
    if raw then return decode_record(raw) end
    local queues = queue and {queue} or {}
    if not queue then
        for q in string.gmatch(job_queues, "[^,]+") do queues[#queues + 1] = q end
    end
    for _, q in ipairs(queues) do
        raw = fresh_text(id, q)
        if raw then
            local job = decode_record(raw)
            fresh_in[id] = q
            return job
        end
    end
    return nil
end

-- How many of a queue's oldest `fresh` entries housekeeping looks at in its turn.
local FRESH_CHECK = 10

-- Housekeeping in turn (see in_turn), done by every heartbeat and recovery pass (job_queues_csv,
-- states_csv, dead_queues_csv: what to walk).
local function housekeeping(job_queues_csv, states_csv, dead_queues_csv)
    -- Records written before the id-prefix and all-states indexes existed (an upgrade) are copied
    -- into them, one queue per call in turn, a few batches at a time from where the last call
    -- stopped; once a queue's state indexes are walked its cursor says "done" and costs one GET.
    local job_queues = {}
    for q in string.gmatch(job_queues_csv, "[^,]+") do job_queues[#job_queues + 1] = q end
    local states = {}
    for s in string.gmatch(states_csv, "[^,]+") do states[#states + 1] = s end
    if #job_queues > 0 and #states > 0 then
        local q = job_queues[in_turn(#job_queues)]
        local cursor = redis.call("get", backfill_key(q)) or "1:0"
        if cursor ~= "done" then
            local si, rank = string.match(cursor, "^(%d+):(%d+)$")
            si, rank = tonumber(si) or 1, tonumber(rank) or 0
            for _ = 1, 3 do
                if si > #states then break end
                local ids = redis.call("zrange", idx_key(q, states[si]), rank, rank + PRUNE_BATCH - 1)
                for _, id in ipairs(ids) do
                    local job = load(id)
                    if job then
                        redis.call("zadd", ids_key, "NX", 0, id)
                        redis.call("zadd", all_states_key(q), "NX", tonumber(job.created_at) or now, id)
                    end
                end
                if #ids < PRUNE_BATCH then si, rank = si + 1, 0 else rank = rank + #ids end
            end
            redis.call("set", backfill_key(q), si > #states and "done" or (si .. ":" .. rank))
        end
        -- Jobs of `fresh` that have a record leave it: a worker of an older version (a rollback)
        -- runs such a job as one that came without gemsdash and knows no such index. The oldest
        -- few, which it takes first; the rest in later turns (and `clear` drops any it meets).
        for _, id in ipairs(redis.call("zrange", fresh_key(q), 0, FRESH_CHECK - 1)) do
            if redis.call("exists", job_key(id)) == 1 then
                redis.call("zrem", fresh_key(q), id)
                redis.call("zadd", all_states_key(q), "NX", now, id)
            end
        end
    end
    -- Dead letters past their 7 days, one dead-letter queue per call in turn (a few seconds late
    -- changes nothing); a queue that is behind gets up to ten batches.
    local dead_queues = {}
    for q in string.gmatch(dead_queues_csv, "[^,]+") do dead_queues[#dead_queues + 1] = q end
    if #dead_queues > 0 then
        local q = dead_queues[in_turn(#dead_queues)]
        local xq = xq_key(q)
        for _ = 1, 10 do
            local old = redis.call("zrangebyscore", xq, 0, now - dead_ttl * 1000, "LIMIT", 0, PRUNE_BATCH)
            if #old > 0 then
                redis.call("zrem", xq, unpack(old))
                redis.call("hdel", xq_msgs_key(q), unpack(old))
            end
            if #old < PRUNE_BATCH then break end
        end
    end
end

local function ttl_for(state)
    if state == "dead" then return dead_ttl end
    if state == "succeeded" or state == "cancelled" then return finished_ttl end
    return nil
end

-- How many entries of a state's index the snapshot counts: finished records only while kept.
local function live_count(key, state)
    local ttl = ttl_for(state)
    if ttl then return redis.call("zcount", key, now - ttl * 1000, "+inf") end
    return redis.call("zcard", key)
end

-- Drops index entries whose records have expired; bounded so no call runs long.
local function prune(queue, state)
    local ttl = ttl_for(state)
    if not ttl then return end
    prune_index(queue, idx_key(queue, state), ttl)  -- shared.lua
end

-- Index writes of many saves (a batch of successes), gathered per key by `save` and sent by
-- `write_index_batch` as one ZREM and one ZADD per index instead of one of each per job; the
-- state's index is then pruned once by the caller.
local function new_index_batch() return {rem = {}, add = {}} end
local function gather(map, key, ...)
    local items = map[key]
    if not items then
        items = {}
        map[key] = items
    end
    for _, v in ipairs({...}) do items[#items + 1] = v end
end
local function write_index_batch(batch)
    for key, ids in pairs(batch.rem) do redis.call("zrem", key, unpack(ids)) end
    for key, scored in pairs(batch.add) do redis.call("zadd", key, unpack(scored)) end
end

-- batch: index writes gathered for write_index_batch (see above), no pruning here.
local function save(job, old_state, note, batch)
    local state = job.state
    local timeline = job.timeline
    if type(timeline) ~= "table" then timeline = {} end
    if note then timeline[#timeline + 1] = {state, now, note} else timeline[#timeline + 1] = {state, now} end
    if #timeline > TIMELINE_MAX then table.remove(timeline, 2) end
    job.timeline = timeline
    local fresh_queue = fresh_in[job.id]
    if fresh_queue then
        -- Its first record: it leaves `fresh` for the indexes every recorded job is in.
        fresh_in[job.id] = nil
        redis.call("zrem", fresh_key(fresh_queue), job.id)
        redis.call("zadd", all_states_key(job.queue), tonumber(job.created_at) or now, job.id)
    elseif old_state ~= state then
        if not old_state then
            redis.call("zadd", ids_key, 0, job.id)  -- a record made here (a fallback, a reject)
            redis.call("zadd", all_states_key(job.queue), tonumber(job.created_at) or now, job.id)
        elseif batch then
            gather(batch.rem, idx_key(job.queue, old_state), job.id)
        else
            redis.call("zrem", idx_key(job.queue, old_state), job.id)
        end
    end
    if batch then
        gather(batch.add, idx_key(job.queue, state), now, job.id)
    else
        redis.call("zadd", idx_key(job.queue, state), now, job.id)
    end
    if is_due_state(state) then
        redis.call("zadd", due_key(job.queue), tonumber(job.next_attempt_at) or now, job.id)
    elseif is_due_state(old_state) then
        redis.call("zrem", due_key(job.queue), job.id)
    end
    local ttl = ttl_for(state)
    if ttl then
        redis.call("set", job_key(job.id), encode_record(job), "EX", ttl)
        if not batch then prune(job.queue, state) end
    else
        redis.call("set", job_key(job.id), encode_record(job))
    end
end

-- A due job back to `queued` (its message is in its queue now); returns the new state.
local function hand_off(job, old)
    job.state = "queued"
    job.next_attempt_at = cjson.null
    save(job, old, nil)
    return "queued"
end

-- Throughput buckets for the dashboard, lifetime totals and a duration histogram for metrics,
-- added up in `tallies` and written by `write_tallies` once per key and field: a batch of successes
-- then costs a few HINCRBYs, not six per job. `bounds` is the csv of histogram upper bounds in ms,
-- declared once in store.py.
local tallies = {}
local expiring = {}  -- the throughput buckets among them: kept an hour
local function tally(key, field, n)
    local fields = tallies[key]
    if not fields then
        fields = {}
        tallies[key] = fields
    end
    fields[field] = (fields[field] or 0) + n
end

-- One observation of a histogram hash (ns:gd:hist:<queue>, ns:gd:wait:<queue>); its count is the
-- sum of its buckets, added up by the reader.
local function observe(hist, ms, bounds)
    local slot = "inf"
    for bound in string.gmatch(bounds, "[^,]+") do
        if ms <= tonumber(bound) then slot = bound break end
    end
    tally(hist, slot, 1)
    tally(hist, "sum", ms)
end

-- The wait before the run that is ending (ns:gd:wait:<queue>): from entering `queued` to the start,
-- the timeline's last two entries. Observed when the run ends, in the call that records its outcome,
-- and not by `start`: there it cost every job two HINCRBYs, here a batch of successes shares them.
-- A run that started from another state (a redelivery of a running job) waited in no queue.
local function observe_wait(job, wait_bounds)
    local timeline = job.timeline
    if wait_bounds == "" or type(timeline) ~= "table" or #timeline < 2 then return end
    local queued, started = timeline[#timeline - 1], timeline[#timeline]
    if type(queued) ~= "table" or type(started) ~= "table" then return end
    if queued[1] ~= "queued" or started[1] ~= "running" then return end
    local since, at = tonumber(queued[2]), tonumber(started[2])
    if since and at then observe(wait_key(job.queue), math.max(at - since, 0), wait_bounds) end
end

-- outcome: succeeded, retried, failed, dead or aborted (store.py ATTEMPT_OUTCOMES says which is which).
local function count_attempt(queue, outcome)
    tally(totals_key, queue .. ":attempt:" .. outcome, 1)
end

local function count_finished(queue, ok, duration)
    local bucket = tp_key(queue, math.floor(now / BUCKET_MS))
    expiring[bucket] = true
    tally(bucket, ok and "ok" or "fail", 1)
    tally(totals_key, queue .. ":" .. (ok and "succeeded" or "dead"), 1)
    if duration and duration ~= cjson.null then
        tally(bucket, "ms", math.floor(duration))
        tally(bucket, "timed", 1)
    end
end

local function write_tallies()
    for key, fields in pairs(tallies) do
        for field, n in pairs(fields) do redis.call("hincrby", key, field, n) end
        if expiring[key] then redis.call("expire", key, BUCKET_TTL_S) end
    end
    tallies = {}
    expiring = {}
end

-- Dramatiq's own ack, or with `nack` its nack (dispatch.lua), of a message a worker fetched: done
-- whatever the job's record says, as a finished message must never stay in an ack set. Returns
-- whether the message was still held (false: settled already, or requeued by recovery).
local function settle_message(worker, queue, rmid, nack)
    local msgs = msgs_key(queue)
    if redis.call("srem", acks_key(worker, queue), rmid) > 0 then
        local body = nil
        if nack then body = redis.call("hget", msgs, rmid) end
        if body then
            local canon = string.gsub(queue, "%.DQ$", "")
            redis.call("zadd", xq_key(canon), now, rmid)
            redis.call("hset", xq_msgs_key(canon), rmid, body)
        end
        redis.call("hdel", msgs, rmid)
        return true
    end
    return false
end

-- A job its fetch started (hot.lua `fetch`) may have waited in the worker's memory before it
-- began: its real start is its end (now) less its run time, when that is later than the fetch's
-- stamp; `started_at` and the `running` entry take it (hot.lua `succeed` does the same).
local function began_late(job, duration)
    local ms, stamped = tonumber(duration), tonumber(job.started_at)
    if not ms or not stamped then return end
    local real = now - math.floor(ms)
    if real <= stamped + 1 then return end
    job.started_at = real
    local timeline = job.timeline
    local last = type(timeline) == "table" and timeline[#timeline]
    if type(last) == "table" and last[1] == "running" then last[2] = real end
end

-- A running job's outcome: succeeded (detail = result JSON), retrying or dead (detail = error
-- object JSON). Counters are tallied; the caller writes them.
local function conclude(job, old, outcome, detail, duration, next_at, bounds, wait_bounds, batch)
    if old == "running" then
        began_late(job, duration)
        observe_wait(job, wait_bounds)
    end
    job.state = outcome
    job.run_now = nil  -- the copy run_now pushed has run: later copies are the job's own again
    job.duration_ms = tonumber(duration) or cjson.null
    if outcome == "succeeded" then
        job.result = detail
        job.error = cjson.null
        job.finished_at = now
        job.next_attempt_at = cjson.null
    else
        job.error = cjson.decode(detail)
        if outcome == "dead" then
            job.finished_at = now
            job.next_attempt_at = cjson.null
        else
            job.next_attempt_at = tonumber(next_at) or cjson.null
        end
    end
    save(job, old, nil, batch)
    -- Every attempt is timed and counted, a retried one too; a dead job without a duration never ran.
    local ms = tonumber(duration)
    local timed = ms ~= nil
    if timed then observe(hist_key(job.queue), math.floor(ms), bounds) end
    if outcome == "succeeded" then
        count_attempt(job.queue, "succeeded")
    elseif outcome == "retrying" then
        count_attempt(job.queue, "retried")
    else
        count_attempt(job.queue, timed and "failed" or "dead")
    end
    if outcome ~= "retrying" then count_finished(job.queue, outcome == "succeeded", job.duration_ms) end
end

local function push_message(rq, rmid, data)
    redis.call("hset", msgs_key(rq), rmid, data)
    redis.call("rpush", queue_key(rq), rmid)
end

local function drop_dead_letter(job)
    if job.rmid and job.rq and job.rmid ~= cjson.null then
        redis.call("zrem", xq_key(job.rq), job.rmid)
        redis.call("hdel", xq_msgs_key(job.rq), job.rmid)
    end
end

local function audit(entry)
    local key = audit_key
    redis.call("lpush", key, entry)
    redis.call("ltrim", key, 0, AUDIT_MAX - 1)
end

-- The ids at ranks [offset, offset + count) of two zsets with no member in common taken as one,
-- highest score first (at equal scores, a's before b's): O(log² n + count), whatever the offset.
-- It bisects on how many of the first `offset` come from a (i), comparing a's next with b's last.
local function merged_revrange(a, b, offset, count)
    local na, nb = redis.call("zcard", a), redis.call("zcard", b)
    if nb == 0 then return redis.call("zrevrange", a, offset, offset + count - 1) end
    if na == 0 then return redis.call("zrevrange", b, offset, offset + count - 1) end
    local function score(key, rank)
        return tonumber(redis.call("zrevrange", key, rank, rank, "WITHSCORES")[2])
    end
    local lo, hi = math.max(0, offset - nb), math.min(offset, na)
    while lo < hi do
        local i = math.floor((lo + hi) / 2)
        if score(a, i) >= score(b, offset - i - 1) then lo = i + 1 else hi = i end
    end
    local from_a = redis.call("zrevrange", a, lo, lo + count - 1, "WITHSCORES")
    local from_b = redis.call("zrevrange", b, offset - lo, offset - lo + count - 1, "WITHSCORES")
    local out, x, y = {}, 1, 1
    while #out < count and (x < #from_a or y < #from_b) do
        if y >= #from_b or (x < #from_a and tonumber(from_a[x + 1]) >= tonumber(from_b[y + 1])) then
            out[#out + 1] = from_a[x]
            x = x + 2
        else
            out[#out + 1] = from_b[y]
            y = y + 2
        end
    end
    return out
end

-- The ids of a page of the view `page` and `scan` read (a state's index, or all states).
local function view_range(queue, state, offset, count)
    if state == "" then return merged_revrange(all_states_key(queue), fresh_key(queue), offset, count) end
    if state == "queued" then return merged_revrange(idx_key(queue, state), fresh_key(queue), offset, count) end
    return redis.call("zrevrange", idx_key(queue, state), offset, offset + count - 1)
end

-- A record of such a page as stored, or nil when it has expired meanwhile.
local function view_record(queue, state, id)
    local raw = redis.call("get", job_key(id))
    if raw or (state ~= "" and state ~= "queued") then return raw end
    return fresh_text(id, queue)
end

-- submit([id, queue, state, rq, rmid, message_data, record_json_or_empty, created_ms, priority] * n)
-- New jobs: each record and its Dramatiq message are written together, and the whole batch in one
-- call, so a producer that loses Redis half-way leaves neither. Returns how many ids existed. An
-- empty record: the job waits as its message alone, in `fresh` (store.py `_waits_as_message`).
-- A new job from 9 submit arguments at `i`; false when its id exists already. Its enqueue is
-- tallied: the caller writes the tallies.
local function write_new(i)
    local id, queue, state, rq, rmid, data, record, created, priority =
        A[i], A[i + 1], A[i + 2], A[i + 3], A[i + 4], A[i + 5], A[i + 6], A[i + 7], A[i + 8]
    if redis.call("exists", job_key(id)) == 1 or redis.call("zscore", fresh_key(queue), id) then return false end
    tally(totals_key, queue .. ":enqueued:" .. priority, 1)
    if record == "" then
        redis.call("zadd", fresh_key(queue), tonumber(created) or now, id)
        redis.call("zadd", ids_key, 0, id)
        push_message(rq, rmid, data)
        return true
    end
    redis.call("set", job_key(id), record)
    redis.call("zadd", idx_key(queue, state), tonumber(created) or now, id)
    redis.call("zadd", ids_key, 0, id)
    redis.call("zadd", all_states_key(queue), tonumber(created) or now, id)
    if is_due_state(state) then
        local due = decode_record(record).next_attempt_at
        redis.call("zadd", due_key(queue), tonumber(due) or tonumber(created) or now, id)
    end
    push_message(rq, rmid, data)
    return true
end


if command == "submit" then
    local existing = 0
    for i = 1, #A, 9 do
        if not write_new(i) then existing = existing + 1 end
    end
    write_tallies()
    return existing

-- unsubmit([id, rmid] * n): withdraws jobs of a batch whose later chunk failed (store.py submit):
-- each record still waiting for its first delivery, with its message still in Redis, goes as if
-- never written. Returns the ids that stay (a worker has fetched their message already).
elseif command == "unsubmit" then
    local kept = {}
    for i = 1, #A, 2 do
        local id, rmid = A[i], A[i + 1]
        local job = load(id)
        if job and job.rmid == rmid then
            -- From the tail: the batch's messages were pushed last, so this is a short walk.
            -- Not in the list: a worker has fetched it (it may run), so the job stays.
            if tonumber(job.attempts) == 0 and redis.call("lrem", queue_key(job.rq), -1, rmid) == 1 then
                redis.call("hdel", msgs_key(job.rq), rmid)
                redis.call("del", job_key(id))
                redis.call("zrem", idx_key(job.queue, job.state), id)
                redis.call("zrem", ids_key, id)
                redis.call("zrem", all_states_key(job.queue), id)
                redis.call("zrem", due_key(job.queue), id)
                redis.call("zrem", fresh_key(job.queue), id)
                fresh_in[id] = nil
                tally(totals_key, job.queue .. ":enqueued:" .. tostring(job.priority), -1)
            else
                kept[#kept + 1] = id
            end
        end
    end
    write_tallies()
    return kept

-- sched_due(limit): {now, earliest_next_or_false, [name, definition, next] * due}
-- Up to `limit` unpaused schedules whose next run has come, by Redis's clock (`now`, its TIME),
-- which every firer of a schedule shares, whatever its own host's clock says.
elseif command == "sched_due" then
    local due = sched_due_key
    local out = {now, false}
    local first = redis.call("zrange", due, 0, 0, "WITHSCORES")
    if #first > 0 then out[2] = first[2] end
    -- Nothing due (the usual answer, once a second per worker): the first entry says so.
    local due_names = {}
    if #first > 0 and tonumber(first[2]) <= now then
        due_names = redis.call("zrangebyscore", due, "-inf", now, "LIMIT", 0, tonumber(A[1]))
    end
    for _, name in ipairs(due_names) do
        local h = redis.call("hmget", sched_key(name), "definition", "next")
        if h[1] and h[2] then
            out[#out + 1] = name
            out[#out + 1] = h[1]
            out[#out + 1] = h[2]
        else
            redis.call("zrem", due, name)
        end
    end
    return out

-- sched_fire(name, gen, expected_next, following_or_empty, missed, [9 submit args, tick] * n)
-- Claims a schedule's due tick(s) and enqueues their jobs in this one call: only while the
-- schedule is the same one (gen), unpaused, still expects `expected_next`, and Redis's clock has
-- reached it. Of any number of firers reading the same next run, exactly one gets "ok".
elseif command == "sched_fire" then
    local name, gen, expected, following, missed = A[1], A[2], A[3], A[4], tonumber(A[5])
    local key = sched_key(name)
    local h = redis.call("hmget", key, "gen", "next", "paused")
    if h[1] ~= gen or h[2] ~= expected or h[3] == "1" then return "stale" end
    if now < tonumber(expected) then return "early" end
    local fired, last_id, last_tick = 0, nil, nil
    for i = 6, #A, 10 do
        if write_new(i) then
            fired = fired + 1
            last_id, last_tick = A[i], A[i + 9]
        end
    end
    write_tallies()
    if following == "" then
        redis.call("hdel", key, "next")
        redis.call("zrem", sched_due_key, name)
    else
        redis.call("hset", key, "next", following)
        redis.call("zadd", sched_due_key, tonumber(following), name)
    end
    if fired > 0 then
        redis.call("hset", key, "last_tick", last_tick, "last_at", now, "last_job", last_id)
        redis.call("hincrby", key, "fired", fired)
    end
    if missed > 0 then redis.call("hincrby", key, "missed", missed) end
    return "ok"

-- sched_run(name, gen, audit_json, 9 submit args, tick): fire now, outside the rule; the next run
-- stays as it was.
elseif command == "sched_run" then
    local name, gen, entry = A[1], A[2], A[3]
    local key = sched_key(name)
    if redis.call("hget", key, "gen") ~= gen then return "missing" end
    if not write_new(4) then return "exists" end
    write_tallies()
    redis.call("hset", key, "last_tick", A[13], "last_at", now, "last_job", A[4])
    redis.call("hincrby", key, "fired", 1)
    audit(entry)
    return "ok"

-- sched_add(name, definition, gen, next_or_empty, max_schedules, audit_json)
elseif command == "sched_add" then
    local name, definition, gen, following, max, entry = A[1], A[2], A[3], A[4], tonumber(A[5]), A[6]
    local key = sched_key(name)
    if redis.call("exists", key) == 1 then return "exists" end
    if redis.call("zcard", schedules_key) >= max then return "full" end
    redis.call("hset", key, "definition", definition, "gen", gen, "paused", "0", "fired", 0, "missed", 0)
    redis.call("zadd", schedules_key, now, name)
    if following ~= "" then
        redis.call("hset", key, "next", following)
        redis.call("zadd", sched_due_key, tonumber(following), name)
    end
    audit(entry)
    return "ok"

-- sched_remove(name, audit_json)
elseif command == "sched_remove" then
    local name, entry = A[1], A[2]
    if redis.call("del", sched_key(name)) == 0 then return "missing" end
    redis.call("zrem", schedules_key, name)
    redis.call("zrem", sched_due_key, name)
    audit(entry)
    return "ok"

-- sched_pause(name, audit_json) / sched_resume(name, gen, next_or_empty, audit_json)
-- Paused, a schedule leaves the due set: its ticks pass without a job and are not caught up later.
elseif command == "sched_pause" then
    local name, entry = A[1], A[2]
    local key = sched_key(name)
    local paused = redis.call("hget", key, "paused")
    if not paused then return "missing" end
    if paused == "1" then return "unchanged" end
    redis.call("hset", key, "paused", "1")
    redis.call("zrem", sched_due_key, name)
    audit(entry)
    return "ok"

elseif command == "sched_resume" then
    local name, gen, following, entry = A[1], A[2], A[3], A[4]
    local key = sched_key(name)
    local h = redis.call("hmget", key, "gen", "paused")
    if h[1] ~= gen then return "missing" end
    if h[2] ~= "1" then return "unchanged" end
    redis.call("hset", key, "paused", "0")
    if following == "" then
        redis.call("hdel", key, "next")
    else
        redis.call("hset", key, "next", following)
        redis.call("zadd", sched_due_key, tonumber(following), name)
    end
    audit(entry)
    return "ok"

-- sched_list(offset, count) / sched_get(name): {now, schedules in all, [name, definition, next,
-- paused, last_tick, last_at, last_job, fired, missed, last_job_state] * n}. A page at a time (the
-- caller pipelines the pages), so that no call reads more than `count` schedules and their jobs.
elseif command == "sched_list" or command == "sched_get" then
    local names
    local list = schedules_key
    if command == "sched_get" then names = {A[1]} else
        local offset = tonumber(A[1])
        names = redis.call("zrange", list, offset, offset + tonumber(A[2]) - 1)
    end
    local out = {now, redis.call("zcard", list)}
    for _, name in ipairs(names) do
        local h = redis.call("hmget", sched_key(name), "definition", "next", "paused", "last_tick", "last_at",
            "last_job", "fired", "missed")
        if h[1] then
            local state = false
            if h[6] then
                local raw = redis.call("get", job_key(h[6]))
                -- Not decoded: the state is the record's only unescaped "state" key (payload and
                -- result are JSON strings inside it), and a match costs far less than a decode.
                if raw then state = string.match(raw, '"state":"(%a+)"') or false end
            end
            out[#out + 1] = name
            for i = 1, 8 do out[#out + 1] = h[i] end
            out[#out + 1] = state
        end
    end
    return out

-- start(id, rmid, rq, worker, attempt, fallback_record_json)
-- A worker is about to run a message. Returns "run", or "skip:<state>" for a job that must not run
-- (cancelled or cleared while waiting, or already finished by an earlier delivery). A job that
-- waited queued adds the time since it entered `queued` to the wait histogram.
elseif command == "start" then
    local id, rmid, rq, worker, attempt, fallback = A[1], A[2], A[3], A[4], tonumber(A[5]), A[6]
    local job = load(id)
    local old = nil
    if job then
        old = job.state
        if old == "cancelled" or old == "succeeded" or old == "dead" then return "skip:" .. old end
        -- run_now replaced the job's waiting copy with one of its own; while that copy is the
        -- job's current one (a retry or a clear moves it on), any other copy is stale.
        if job.run_now and job.run_now == job.rmid and rmid ~= job.run_now then return "skip:superseded" end
    else
        -- The fallback is sent only when asked for ("missing"): building it costs every job.
        if fallback == "" then return "missing" end
        job = cjson.decode(fallback)
    end
    -- Its message came due and a worker took it before the consumer that moved it out of its delay
    -- queue recorded the handoff (a call after the move): recorded here,
    -- so that the run has its `queued` entry and its wait is observed.
    if is_due_state(old) then old = hand_off(job, old) end
    -- A redelivery after a lost worker carries the same retry count: it is still a new attempt.
    if old and tonumber(job.attempts) and tonumber(job.attempts) >= attempt then attempt = job.attempts + 1 end
    -- ...but never past the maximum: the last attempt's worker was lost, so it runs again as the last.
    local note = nil
    local most = tonumber(job.max_attempts)
    if most and attempt > most then
        attempt = most
        note = "redelivered after its worker was lost: the last attempt runs again"
    end
    job.state = "running"
    job.attempts = attempt
    job.started_at = now
    job.next_attempt_at = cjson.null
    job.worker = worker
    job.rmid = rmid
    job.rq = rq
    if not old then note = "no record: message did not come through gemsdash" end
    save(job, old, note)
    return "run"

-- finish(id, outcome, detail_json, duration_ms, next_attempt_at, rmid, rq, fallback_record_json, bounds_csv,
--        scrubbed_dead_letter, nack_worker, nack_queue, nack_rmid, retry_rq, retry_rmid, retry_data,
--        wait_bounds_csv)
-- outcome: succeeded (detail = result JSON), retrying or dead (detail = error object JSON).
-- nack_*: a dead job's message, moved to the dead-letter queue in this same call, as Dramatiq's nack
-- would: a worker killed in between cannot leave it dead-lettered and its record still `running`
-- (recovery only sees unsettled messages). Successes written behind are acked by `succeed`.
-- retry_*: a retrying job's next copy (on its delay queue), stored in this same call as the record
-- and the ack of the attempt that failed (nack_* then names that message, acked, not nacked): no
-- moment where the attempt is acked and no copy exists. A call repeated after a lost reply, or for
-- a message recovery has already requeued, finds it settled and changes nothing.
elseif command == "finish" then
    local id, outcome, detail, duration, next_at, rmid, rq, fallback, bounds, scrubbed =
        A[1], A[2], A[3], A[4], A[5], A[6], A[7], A[8], A[9], A[10]
    local nack_worker, nack_queue, nack_rmid = A[11] or "", A[12] or "", A[13] or ""
    local retry_rq, retry_rmid, retry_data = A[14] or "", A[15] or "", A[16] or ""
    local wait_bounds = A[17] or ""
    -- Read before the message is settled: a record cjson cannot read fails the call with nothing
    -- written, its message still held (as `succeed` below), instead of settled beside a stale record.
    local job = load(id)
    if nack_rmid ~= "" then
        redis.call("zadd", heartbeats_key, now, nack_worker)
        local held = settle_message(nack_worker, nack_queue, nack_rmid, retry_rmid == "")
        if retry_rmid ~= "" then
            if not held then return "unchanged" end
            push_message(retry_rq, retry_rmid, retry_data)
            rq, rmid = retry_rq, retry_rmid
        end
    end
    local old = nil
    if job then
        old = job.state
    elseif fallback ~= "" then
        job = cjson.decode(fallback)
    else
        return "missing"
    end
    -- Written twice (a retried call whose first reply was lost): counted once.
    if old == outcome and (outcome == "dead" or outcome == "succeeded") then return "unchanged" end
    if rmid ~= "" then job.rmid = rmid end
    if rq ~= "" then job.rq = rq end
    conclude(job, old, outcome, detail, duration, next_at, bounds, wait_bounds, nil)
    write_tallies()
    -- A dead letter whose payload held something that must not be kept is stored scrubbed.
    if outcome == "dead" and scrubbed ~= "" and rmid ~= "" and rq ~= "" then
        local xmsgs = xq_msgs_key(rq)
        if redis.call("hexists", xmsgs, rmid) == 1 then redis.call("hset", xmsgs, rmid, scrubbed) end
    end
    return "ok"

-- succeed(bounds_csv, wait_bounds_csv, [id, result_json, duration_ms, age_ms, ack_worker, ack_queue, ack_rmid] * n)
-- Successes written behind (middleware/write_behind.py), many per call: each as `finish` writes
-- one, its message acknowledged in the same call, with the counters, the index pruning and the
-- workers' heartbeats done once per call, and the reads, the acks (per worker and queue) and the
-- state indexes' writes one command each for the whole batch: only each record's SET is per job. age_ms: how long ago (by the worker's own clock, which
-- measures a duration well whatever its skew) the job ended, for its record's times and buckets;
-- the heartbeats get the time of this call, or a late write would age them. A record
-- that is missing or already succeeded is left alone (its ack is still done). A record cjson cannot
-- read (written by hand, or by a later version) is left alone with its message still held: the
-- records are decoded before any ack, as a script's writes are not undone by a later error, and
-- one such record made the call fail after acking the whole batch, every other job of it then
-- `running` for good with no message left to recover. Returns how many records were written.
elseif command == "succeed" then
    local bounds, wait_bounds = A[1], A[2]
    local written, held, queues, ids = 0, {}, {}, {}
    local called_at = now
    for i = 3, #A, 7 do ids[#ids + 1] = job_key(A[i]) end
    if #ids == 0 then return 0 end
    -- The records in one MGET; an id twice in a call (a batch resent after a lost reply) counts once.
    local records, batch, done = redis.call("mget", unpack(ids)), new_index_batch(), {}
    local jobs = {}  -- position -> decoded record; false: unreadable (or without what `save` needs)
    for n in ipairs(ids) do
        if records[n] then
            local ok, job = pcall(decode_record, records[n])
            jobs[n] = ok and type(job) == "table" and type(job.id) == "string" and type(job.queue) == "string"
                and job
        end
    end
    for n in ipairs(ids) do
        local i = 3 + (n - 1) * 7
        local ack_worker, ack_queue, ack_rmid = A[i + 4], A[i + 5], A[i + 6]
        if ack_rmid ~= "" and jobs[n] ~= false then  -- "": the broker acked it itself
            held[ack_worker] = held[ack_worker] or {}
            gather(held[ack_worker], ack_queue, ack_rmid)
        end
    end
    ack_held(held)  -- shared.lua
    for n in ipairs(ids) do
        local at = 3 + (n - 1) * 7
        local id, result, duration, age = A[at], A[at + 1], A[at + 2], A[at + 3]
        now = called_at - math.max(tonumber(age) or 0, 0)
        local job = not done[id] and jobs[n]
        if job and job.state ~= "succeeded" then
            conclude(job, job.state, "succeeded", result, duration, nil, bounds, wait_bounds, batch)
            queues[job.queue] = true
            done[id] = true
            written = written + 1
        end
    end
    now = called_at
    write_index_batch(batch)
    for queue in pairs(queues) do prune(queue, "succeeded") end
    write_tallies()
    return written

-- beat(worker_id, body_json, body_ttl_ms, forget_after_ms, job_queues_csv, states_csv,
--      dead_queues_csv, worker_timeout_ms or "", consumed physical queues...): a worker is alive
-- (Dramatiq's heartbeat, so its ack lease holds while its threads are busy, and ours, with what the
-- dashboard shows of it), stamped with Redis's clock; also the housekeeping in turn that recovery
-- passes did. Returns {that time, which the worker uses to keep its clock offset current; the
-- oldest heartbeat of any worker or false; with a timeout given, 1 if a live worker is older than
-- this version (it cannot read a job that waits with no record), else 0}: a recovery pass is needed
-- only once the oldest is older than the timeout. The oldest workers beat `workers` only, those of
-- the split record layout `layout2` too, and this version `layout3` as well, with the same time
-- (recovery and forget_worker remove every entry): fewer live entries in `layout3` than in
-- `workers` means an older worker is alive. The two ZCOUNTs (~20k redis-server instructions each,
-- as much as a start's hot path) only when asked, at most every LAYOUT_CHECK_S (store.py). The
-- reply's fourth element is the data set's epoch, made by the first beat that finds none: a worker
-- that sees it change knows Redis lost its data since its last beat (store.py `_check_epoch`).
elseif command == "beat" then
    local worker, body, ttl, forget_after, timeout = A[1], A[2], tonumber(A[3]), tonumber(A[4]), tonumber(A[8])
    redis.call("zadd", heartbeats_key, now, worker)
    redis.call("zadd", workers_key, now, worker)
    redis.call("zadd", layout2_key, now, worker)
    redis.call("zadd", layout3_key, now, worker)
    redis.call("set", worker_key(worker), body, "PX", ttl)
    -- Who consumes each physical queue (A[9..]), so the snapshot can tell a queue nobody serves in
    -- O(queues); entries of workers long gone are dropped here, one queue's per beat in turn
    -- (snapshot.lua counts only entries younger than the worker timeout).
    for i = 9, #A do
        redis.call("zadd", serving_key(A[i]), now, worker)
    end
    if #A >= 9 then
        redis.call("zremrangebyscore", serving_key(A[8 + in_turn(#A - 8)]), "-inf", now - forget_after)
    end
    housekeeping(A[5], A[6], A[7])
    local oldest = redis.call("zrange", heartbeats_key, 0, 0, "WITHSCORES")
    local epoch = redis.call("get", epoch_key)
    if not epoch then
        epoch = now .. ":" .. worker
        redis.call("set", epoch_key, epoch)
    end
    if not timeout then return {now, oldest[2] or false, false, epoch} end
    local since = now - timeout
    local older = redis.call("zcount", workers_key, since, "+inf") > redis.call("zcount", layout3_key, since, "+inf")
    return {now, oldest[2] or false, older and 1 or 0, epoch}

-- reclaim(worker, rq): the data of the messages a live worker's ack set holds for the delay queue
-- rq, for its new consumer to take back after a lost connection (Dramatiq forgets them; recovery
-- only requeues dead workers' sets). Ids whose message is gone (cancelled) leave the set.
elseif command == "reclaim" then
    local worker, rq = A[1], A[2]
    local acks = acks_key(worker, rq)
    local held = {}
    for _, rmid in ipairs(redis.call("smembers", acks)) do
        local data = redis.call("hget", msgs_key(rq), rmid)
        if data then held[#held + 1] = data else redis.call("srem", acks, rmid) end
    end
    return held

-- requeue(rq, broker_id, worker, n, rmid * n, [id, rmid] * m): Dramatiq's requeue (dispatch.lua's)
-- of messages a worker fetched but will not run (its queue paused, its shutdown), and the undoing
-- of what hot.lua's `fetch` did to the records it started (the m pairs): each message still in the
-- broker's ack set leaves it and goes back to the end of its queue, and each such record that is
-- still this worker's `running` one for that message is `queued` again as it was before the fetch:
-- the attempt, start and worker undone, the `running` timeline entry dropped, back in the queued
-- index at the time it had entered it. (One whose message recovery already gave another worker is
-- left to that worker.)
elseif command == "requeue" then
    local rq, broker, worker, n = A[1], A[2], A[3], tonumber(A[4])
    local acks, back = acks_key(broker, rq), {}
    for i = 5, 4 + n do
        local rmid = A[i]
        if redis.call("srem", acks, rmid) == 1 then
            back[rmid] = true
            if redis.call("hexists", msgs_key(rq), rmid) == 1 then redis.call("rpush", queue_key(rq), rmid) end
        end
    end
    for i = 5 + n, #A - 1, 2 do
        local id, rmid = A[i], A[i + 1]
        local job = back[rmid] and load(id)
        if job and job.state == "running" and job.rmid == rmid and job.worker == worker then
            local timeline = job.timeline
            local entered = now
            if type(timeline) == "table" and type(timeline[#timeline]) == "table" and timeline[#timeline][1] == "running" then
                timeline[#timeline] = nil
                local last = timeline[#timeline]
                if type(last) == "table" and last[1] == "queued" then entered = tonumber(last[2]) or now end
            end
            job.state = "queued"
            job.attempts = math.max((tonumber(job.attempts) or 1) - 1, 0)
            job.started_at = cjson.null
            job.worker = cjson.null
            redis.call("zrem", idx_key(job.queue, "running"), id)
            redis.call("zadd", idx_key(job.queue, "queued"), entered, id)
            redis.call("set", job_key(id), encode_record(job))
        end
    end
    return "ok"

-- handoff(id, from_states_csv): a delayed or retrying job's time has come; it waits in its queue.
elseif command == "handoff" then
    local id, from = A[1], set_of(A[2])
    local job = load(id)
    if not job or not from[job.state] then return "ignored" end
    hand_off(job, job.state)
    return "ok"

-- cancel(id, from_states_csv, who, audit_json_or_empty)
elseif command == "cancel" then
    local id, from, who, entry = A[1], set_of(A[2]), A[3], A[4]
    local job = load(id)
    if not job then return "missing" end
    if not from[job.state] then return "state:" .. job.state end
    local old = job.state
    job.state = "cancelled"
    job.finished_at = now
    job.next_attempt_at = cjson.null
    -- Take the message out of Redis when it still waits there; one a worker already holds in
    -- memory is skipped by `start` instead.
    if job.rq and job.rmid and job.rq ~= cjson.null then
        if redis.call("hdel", msgs_key(job.rq), job.rmid) == 1 then
            redis.call("lrem", queue_key(job.rq), 1, job.rmid)
        end
    end
    save(job, old, "cancelled by " .. who)
    if entry ~= "" then audit(entry) end
    return "ok"

-- retry(id, from_states_csv, rq, rmid, message_data, who, audit_json)
-- A dead or cancelled job goes back to its queue with its attempts reset, exactly once however
-- many processes ask at the same moment.
elseif command == "retry" then
    local id, from, rq, rmid, data, who, entry = A[1], set_of(A[2]), A[3], A[4], A[5], A[6], A[7]
    local job = load(id)
    if not job then return "missing" end
    if not from[job.state] then return "state:" .. job.state end
    local old = job.state
    if old == "dead" then drop_dead_letter(job) end
    job.state = "queued"
    job.attempts = 0
    job.finished_at = cjson.null
    job.next_attempt_at = cjson.null
    job.started_at = cjson.null
    job.duration_ms = cjson.null
    job.rq = rq
    job.rmid = rmid
    push_message(rq, rmid, data)
    save(job, old, "retried by " .. who)
    if entry ~= "" then audit(entry) end
    return "ok"

-- run_now(id, from_states_csv, rq, rmid, message_data, who, audit_json)
-- A delayed or retrying job goes to its queue now: a fresh copy is pushed and the record remembers
-- it (run_now), so the copy that was waiting (in Redis, or held by a worker until its time) is
-- skipped when it comes; the waiting copy is removed here when it is still in Redis.
elseif command == "run_now" then
    local id, from, rq, rmid, data, who, entry = A[1], set_of(A[2]), A[3], A[4], A[5], A[6], A[7]
    local job = load(id)
    if not job then return "missing" end
    if not from[job.state] then return "state:" .. job.state end
    if job.rq and job.rmid and job.rq ~= cjson.null and job.rmid ~= cjson.null then
        if redis.call("hdel", msgs_key(job.rq), job.rmid) == 1 then
            redis.call("lrem", queue_key(job.rq), 1, job.rmid)
        end
    end
    local old = job.state
    job.state = "queued"
    job.next_attempt_at = cjson.null
    job.rq = rq
    job.rmid = rmid
    job.run_now = rmid
    push_message(rq, rmid, data)
    save(job, old, "run now by " .. who)
    audit(entry)
    return "ok"

-- abort(id, who, audit_json): ask the worker running the job to stop it (it polls ns:gd:aborts).
elseif command == "abort" then
    local id, who, entry = A[1], A[2], A[3]
    local job = load(id)
    if not job then return "missing" end
    if job.state ~= "running" then return "state:" .. job.state end
    redis.call("hset", aborts_key, id, who)
    audit(entry)
    return "ok"

-- aborted(id, error_json, duration_ms): the worker stopped the job; it ends cancelled, not retried.
elseif command == "aborted" then
    local id, detail, duration, wait_bounds = A[1], A[2], A[3], A[4] or ""
    local who = redis.call("hget", aborts_key, id)
    redis.call("hdel", aborts_key, id)
    local job = load(id)
    if not job then return "missing" end
    local old = job.state
    if old == "running" then
        began_late(job, duration)
        observe_wait(job, wait_bounds)
        write_tallies()
    end
    job.state = "cancelled"
    job.finished_at = now
    job.next_attempt_at = cjson.null
    job.duration_ms = tonumber(duration) or cjson.null
    job.error = cjson.decode(detail)
    save(job, old, "aborted by " .. (who or "an operator"))
    return "ok"

-- delete(id, from_states_csv, audit_json)
-- One dead or cancelled job is removed for good: its record, its index entries and (dead) its
-- dead letter, with its audit entry, in one call.
elseif command == "delete" then
    local id, from, entry = A[1], set_of(A[2]), A[3]
    local job = load(id)
    if not job then return "missing" end
    if not from[job.state] then return "state:" .. job.state end
    if job.state == "dead" then drop_dead_letter(job) end
    redis.call("del", job_key(id))
    redis.call("zrem", idx_key(job.queue, job.state), id)
    redis.call("zrem", ids_key, id)
    redis.call("zrem", all_states_key(job.queue), id)
    audit(entry)
    return "ok"

-- clear(queue, waiting_states_csv, include_dead, physical_queues_csv, batch, who, largest_message)
-- One bounded step of clearing a queue: drains up to `batch` messages from each of the queue's
-- Redis lists and cancels up to `batch` waiting records per state. Running jobs are not touched.
-- The job of every message a step drains is cancelled in that same step, so a clear cut short (a
-- Redis restart, a client gone) leaves each job either waiting with its message or cancelled,
-- never waiting with its message gone: draining lists in list order and walking records in index
-- order took different jobs, and an interrupted clear stranded up to 1,910 of 2,860 delayed jobs.
-- Returns {removed_queued, removed_delayed, removed_retrying, removed_dead, more}.
elseif command == "clear" then
    local queue, waiting, include_dead, lists, batch, who = A[1], A[2], A[3] == "1", A[4], tonumber(A[5]), A[6]
    local largest = tonumber(A[7]) or COMPARE_MAX
    local waiting_states = set_of(waiting)
    local more = 0
    local cleared_in_lists = {}
    local function clear_job(job, state)
        job.state = "cancelled"
        job.finished_at = now
        job.next_attempt_at = cjson.null
        save(job, state, "cleared by " .. who)
    end
    -- The waiting job of `queue` whose current message is `rmid` on list `rq`, or nil (a stale
    -- copy, a job already cancelled, a message that is no job's). A first delivery's or a delayed
    -- job's Redis message id is its job id; a retry's or a run-now's copy has its own, and the job
    -- id is the message's (`message_job_id`). A message larger than any this
    -- deployment's producers write (`largest`: admission.message_limit; written by hand or by a
    -- tool) is not read, as `reject` reads none (copying 30 MB into Lua holds Redis ~300 ms): its
    -- job, if it has one, is one the walk of the state indexes below cancels.
    -- (Only a recorded job can own such a message: one waiting with no record is found by `fresh`.)
    local function recorded(id)
        local raw = redis.call("get", job_key(id))
        return raw and decode_record(raw) or nil
    end
    local function waiting_owner(rq, rmid)
        local job = recorded(rmid)
        if not (job and job.rmid == rmid) then
            job = nil
            local size = redis.call("hstrlen", msgs_key(rq), rmid)
            if size > 0 and size <= largest then
                local id = message_job_id(redis.call("hget", msgs_key(rq), rmid))
                if id and id ~= rmid then job = recorded(id) end
            end
        end
        if job and job.queue == queue and job.rq == rq and job.rmid == rmid and waiting_states[job.state] then
            return job
        end
        return nil
    end
    -- Records written per step for the jobs of drained messages, across the lists and the walk of
    -- `fresh` below: `batch` in all, so a step writes what one did before.
    local budget = batch
    for rq in string.gmatch(lists, "[^,]+") do
        local list = queue_key(rq)
        local ids = {}
        if budget > 0 then ids = redis.call("lrange", list, 0, batch - 1) end
        if #ids > 0 then
            -- A job waiting with no record is its message: its record is written before that goes.
            local fresh = {}
            if string.sub(rq, -3) ~= ".DQ" then
                fresh = redis.call("zmscore", fresh_key(queue), unpack(ids))
            end
            local taken = 0
            for j, id in ipairs(ids) do
                local job
                if fresh[j] then
                    job = load(id, queue)
                    if not (job and fresh_in[id]) then job = nil end
                else
                    job = waiting_owner(rq, id)
                end
                if job then
                    if budget == 0 then break end
                    local state = job.state
                    clear_job(job, state)
                    cleared_in_lists[state] = (cleared_in_lists[state] or 0) + 1
                    budget = budget - 1
                end
                taken = j
            end
            if taken > 0 then
                redis.call("ltrim", list, taken, -1)
                redis.call("hdel", msgs_key(rq), unpack(ids, 1, taken))
            end
            if taken == batch or taken < #ids then more = 1 end
        elseif budget == 0 and redis.call("llen", list) > 0 then
            more = 1
        end
    end
    local removed = {}
    for state in string.gmatch(waiting, "[^,]+") do
        local ids = redis.call("zrange", idx_key(queue, state), 0, batch - 1)
        for _, id in ipairs(ids) do
            local job = load(id)
            if job then
                clear_job(job, state)
            else
                redis.call("zrem", idx_key(queue, state), id)
                redis.call("zrem", due_key(queue), id)
            end
        end
        if #ids == batch then more = 1 end
        local count = #ids + (cleared_in_lists[state] or 0)
        if state == "queued" then
            -- Those deeper in their lists than this step drained, and any whose message is gone.
            local fresh = {}
            if budget > 0 then fresh = redis.call("zrange", fresh_key(queue), 0, budget - 1) end
            for _, id in ipairs(fresh) do
                local job = load(id, queue)
                if job and fresh_in[id] then clear_job(job, state) else redis.call("zrem", fresh_key(queue), id) end
            end
            if redis.call("zcard", fresh_key(queue)) > 0 then more = 1 end
            count = count + #fresh
        end
        removed[#removed + 1] = count
    end
    local dead_removed = 0
    if include_dead then
        local key = idx_key(queue, "dead")
        local ids = redis.call("zrange", key, 0, batch - 1)
        for _, id in ipairs(ids) do
            local job = load(id)
            if job then drop_dead_letter(job) end
            redis.call("del", job_key(id))
        end
        if #ids > 0 then
            redis.call("zrem", key, unpack(ids))
            redis.call("zrem", ids_key, unpack(ids))
            redis.call("zrem", all_states_key(queue), unpack(ids))
        end
        if #ids == batch then more = 1 end
        dead_removed = #ids
    end
    removed[#removed + 1] = dead_removed
    removed[#removed + 1] = more
    return removed

-- reject(rq, worker, size, head, tail, record_json, dead_letter, message_id, fresh_id)
-- A message that cannot run (not a valid Dramatiq message, or not one gemsdash could have written)
-- was fetched by this worker: it moves from the worker's ack set to the dead-letter queue, kept only
-- as `dead_letter` (its size, digest and scrubbed head), never whole. It is found among the acks by
-- its size (HSTRLEN), and up to 1 MiB by its first and last bytes too (`head`, `tail`: the whole
-- message when it is under 8 KiB). A larger one is not read at all: copying 30 MB into Lua blocks
-- Redis for ~300 ms, and every message over 1 MiB is refused anyway. Its record:
-- the job it claims to be when that job's record says this is its delivery (it dies with the
-- reason); otherwise a new dead record under the message's Redis id, or `fresh_id` when that id is
-- taken or not a plain id. Returns the record's id, or false if the message is not in the acks.
elseif command == "reject" then
    local rq, worker, size, head, tail, template, dead_letter, message_id, fresh =
        A[1], A[2], tonumber(A[3]), A[4], A[5], A[6], A[7], A[8], A[9]
    local acks = acks_key(worker, rq)
    local msgs = msgs_key(rq)
    local canon = rq
    if string.sub(rq, -3) == ".DQ" then canon = string.sub(rq, 1, -4) end
    local xq = xq_key(canon)
    for _, rmid in ipairs(redis.call("smembers", acks)) do
        if redis.call("hstrlen", msgs, rmid) == size then
            local same = true
            if size <= COMPARE_MAX then
                local data = redis.call("hget", msgs, rmid)
                same = string.sub(data, 1, #head) == head and string.sub(data, -#tail) == tail
            end
            if same then
                -- Looked up before its message goes: a job waiting with no record is read from it.
                local claimed = message_id ~= "" and load(message_id) or nil
                redis.call("srem", acks, rmid)
                redis.call("hdel", msgs, rmid)
                redis.call("zadd", xq, now, rmid)
                redis.call("hset", xq_msgs_key(canon), rmid, dead_letter)
                local refused = cjson.decode(template)
                local job = nil
                local old = nil
                if message_id ~= "" then
                    if claimed and claimed.rmid == rmid and ttl_for(claimed.state) == nil then
                        job = claimed
                        old = claimed.state
                        job.state = "dead"
                        job.error = refused.error
                        job.next_attempt_at = cjson.null
                    end
                end
                if not job and message_id == rmid and type(refused.queue) == "string"
                    and redis.call("zscore", fresh_key(refused.queue), rmid) then
                    -- A job that waited with no record, its message changed since: it dies under
                    -- its own id, with what the template read of the message, and leaves `fresh`.
                    job = refused
                    job.id = rmid
                    fresh_in[rmid] = refused.queue
                end
                if not job then
                    job = refused
                    job.id = rmid
                    if #rmid > 128 or not string.find(rmid, "^[%w][%w_.:-]*$")
                        or redis.call("exists", job_key(rmid)) == 1 or redis.call("zscore", ids_key, rmid) then
                        job.id = fresh
                    end
                end
                if #rmid <= 128 then job.rmid = rmid end
                job.rq = canon
                job.finished_at = now
                save(job, old, "rejected by the worker")
                count_attempt(job.queue, "dead")
                count_finished(job.queue, false, nil)
                write_tallies()
                return job.id
            end
        end
    end
    return false

-- recover(worker_timeout_ms, physical_queues_csv, dead_queues_csv, wait_bounds, job_queues_csv, states_csv)
-- Workers silent for longer than the timeout are dead: the messages they held go back to their
-- queues and their running jobs are shown as queued again. Also expires old dead letters. Only
-- known keys are touched (no KEYS, no SCAN), so the work is bounded by what dead workers held.
elseif command == "recover" then
    local timeout, lists, canon, wait_bounds = tonumber(A[1]), A[2], A[3], A[4] or ""
    local heartbeats = heartbeats_key
    local dead_workers = redis.call("zrangebyscore", heartbeats, 0, now - timeout)
    local requeued = 0
    for _, worker in ipairs(dead_workers) do
        for rq in string.gmatch(lists, "[^,]+") do
            local acks = acks_key(worker, rq)
            local rmids = redis.call("smembers", acks)
            for _, rmid in ipairs(rmids) do
                local data = redis.call("hget", msgs_key(rq), rmid)
                if data then
                    redis.call("rpush", queue_key(rq), rmid)
                    requeued = requeued + 1
                    local id = message_job_id(data)
                    if id then
                        local job = load(id)
                        if job and job.state == "running" and job.rmid == rmid then
                            observe_wait(job, wait_bounds)
                            job.state = "queued"
                            save(job, "running", "worker " .. worker .. " lost; requeued")
                            count_attempt(job.queue, "aborted")
                        end
                    end
                end
            end
            if #rmids > 0 then redis.call("del", acks) end
        end
        redis.call("zrem", heartbeats, worker)
        redis.call("zrem", workers_key, worker)
        redis.call("zrem", layout2_key, worker)
        redis.call("zrem", layout3_key, worker)
    end
    write_tallies()
    housekeeping(A[5] or "", A[6] or "", canon)
    return {#dead_workers, requeued}

-- get(id...): each job's record as stored, or as built from its message while it waits with no
-- record (false for a job neither has). store.py reads records with GET and asks here for the rest.
elseif command == "get" then
    local out = {}
    for i, id in ipairs(A) do
        local raw = redis.call("get", job_key(id))
        if not raw then
            for q in string.gmatch(job_queues, "[^,]+") do
                raw = fresh_text(id, q)
                if raw then break end
            end
        end
        out[i] = raw or false
    end
    return out

-- live(id...): 1 for each id that is a job (a record, or waiting with no record), else 0; the
-- id index's entries of the others (records expired before their index's prune) are dropped.
elseif command == "live" then
    local out, stale = {}, {}
    for i, id in ipairs(A) do
        out[i] = 0
        if redis.call("exists", job_key(id)) == 1 then out[i] = 1 else
            for q in string.gmatch(job_queues, "[^,]+") do
                if redis.call("zscore", fresh_key(q), id) then
                    out[i] = 1
                    break
                end
            end
        end
        if out[i] == 0 then stale[#stale + 1] = id end
    end
    if #stale > 0 then redis.call("zrem", ids_key, unpack(stale)) end
    return out

-- page(queue, state_or_empty, offset, limit, all_states_csv)
-- Newest first, O(log² n + limit) at any offset: with a state, its index by when jobs entered it;
-- across states, the queue's all-states index by creation; `queued` and all states each with the
-- jobs that wait with no record (`fresh`, by creation, which is when they entered `queued`) merged
-- in. Returns {total, json...}.
elseif command == "page" then
    local queue, state, offset, limit, all = A[1], A[2], tonumber(A[3]), tonumber(A[4]), A[5]
    local states = {}
    if state ~= "" then states[1] = state else
        for s in string.gmatch(all, "[^,]+") do states[#states + 1] = s end
    end
    local total = 0
    for _, s in ipairs(states) do total = total + live_count(idx_key(queue, s), s) end
    if state == "" or state == "queued" then total = total + redis.call("zcard", fresh_key(queue)) end
    local out = {total}
    for _, id in ipairs(view_range(queue, state, offset, limit)) do
        local raw = view_record(queue, state, id)
        if raw then out[#out + 1] = raw end
    end
    return out

-- scan(queue, state_or_empty, from_rank, count, search, search_fields_csv, priority)
-- One bounded step of a search: the `count` entries from rank `from_rank` (newest first) of the
-- index `page` reads, matched against an id prefix, an error message or payload field substring,
-- and a priority. The caller pipelines the steps over its search window, so no call reads more
-- than `count` records. Returns {id, json} * matched.
elseif command == "scan" then
    local queue, state, from, count, search = A[1], A[2], tonumber(A[3]), tonumber(A[4]), A[5]
    local fields = set_of(A[6] or "")
    local priority = A[7] or ""
    local needle = string.lower(search)
    -- A needle that JSON writes as it is (no control character, quote, backslash, slash or
    -- non-ASCII byte, which a record may hold escaped) is in a record's text wherever it is in a
    -- field of it: a record whose text lacks it is not decoded (a decode was most of a step's time).
    local literal = not string.find(needle, '[%c"\\/\128-\255]')
    local out = {}
    for _, id in ipairs(view_range(queue, state, from, count)) do
        local raw = view_record(queue, state, id)
        if raw then
            local keep = search == "" or string.sub(id, 1, #search) == search
            local job = nil
            if priority ~= "" then
                -- A record whose text nowhere holds the priority's name cannot have it: most of a
                -- filtered scan's records are left undecoded (a decode is most of a step's time).
                if string.find(raw, priority, 1, true) then
                    job = decode_record(raw)
                    if job.priority ~= priority then keep = false end
                else
                    keep = false
                    job = false
                end
            end
            if not keep and search ~= "" and (priority == "" or (job and job.priority == priority)) then
                if literal and not string.find(string.lower(raw), needle, 1, true) then
                    job = false
                else
                    job = job or decode_record(raw)
                end
                if job and type(job.error) == "table" and type(job.error.message) == "string" then
                    keep = string.find(string.lower(job.error.message), needle, 1, true) ~= nil
                end
                -- A payload field operators look jobs up by (SEARCH_FIELDS): decoded only when a
                -- literal needle occurs in the payload's text at all (one that JSON escapes may not).
                local payload = job and job.payload
                if not keep and type(payload) == "string"
                    and (not literal or string.find(string.lower(payload), needle, 1, true)) then
                    local ok, data = pcall(cjson.decode, payload)
                    if ok and type(data) == "table" then
                        for field in pairs(fields) do
                            local value = data[field]
                            if (type(value) == "string" or type(value) == "number")
                                and string.find(string.lower(tostring(value)), needle, 1, true) then
                                keep = true
                                break
                            end
                        end
                    end
                end
            end
            if keep then
                out[#out + 1] = id
                out[#out + 1] = raw
            end
        end
    end
    return out

end

return redis.error_reply("unknown command " .. tostring(command))
