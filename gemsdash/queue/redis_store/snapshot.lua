#!lua flags=no-writes
-- gemsdash's read snapshot: every count the dashboard, `stats` and `health` show, read in one
-- atomic call that never writes. Declared `no-writes`, so Redis runs it when it is out of memory
-- (it refuses every command of a MULTI then) and on read-only replicas; atomic, so the counts agree
-- with each other as MULTI/EXEC made them. Cost: O(queues x states) commands, each O(1) or
-- O(log n); nothing grows with the number of jobs.
--
-- snapshot(keys=[namespace], args=[now_ms, finished_ttl_s, dead_ttl_s, worker_timeout_ms,
--          overdue_ms, queues_csv, states_csv, finished_states_csv, priorities_csv, first_bucket, buckets,
--          listed_since_ms, listed_max])
-- Keys: named in gemsdash/queue/keys.py, spliced in at `--!keys` as `<name>_key` locals. Besides
-- jobs.lua's idx, tp, hist, wait, totals, workers and worker it reads due, serving and paused.
--
-- Returns, per queue: {counts..., oldest_queued, buckets..., hist, wait, overdue, waiting_by_priority,
-- served_by_priority}, then totals, live workers, stale workers, the workers heard from since
-- `listed_since_ms` (live or not; at most `listed_max`): {id, last_heartbeat_ms, body_json, ...},
-- and the paused queues.

local ns = KEYS[1]
--!keys
local now = tonumber(ARGV[1])
local finished_ttl = tonumber(ARGV[2])
local dead_ttl = tonumber(ARGV[3])
local timeout = tonumber(ARGV[4])
local overdue_ms = tonumber(ARGV[5])
local first_bucket = tonumber(ARGV[10])
local buckets = tonumber(ARGV[11])
local listed_since = ARGV[12]
local listed_max = tonumber(ARGV[13])

local function list(csv)
    local out = {}
    for item in string.gmatch(csv, "[^,]+") do out[#out + 1] = item end
    return out
end
local queues, states, priorities = list(ARGV[6]), list(ARGV[7]), list(ARGV[9])
local finished = {}
for _, s in ipairs(list(ARGV[8])) do finished[s] = true end

local function physical(queue, priority)
    if priority == "normal" then return queue end
    return queue .. "." .. priority
end

local out = {}
for _, queue in ipairs(queues) do
    local row = {}
    for _, state in ipairs(states) do
        local key = idx_key(queue, state)
        if finished[state] then
            local ttl = finished_ttl
            if state == "dead" then ttl = dead_ttl end
            row[#row + 1] = redis.call("zcount", key, now - ttl * 1000, "+inf")
        elseif state == "queued" then
            -- with the jobs that wait with no record (keys.py `fresh`)
            row[#row + 1] = redis.call("zcard", key) + redis.call("zcard", fresh_key(queue))
        else
            row[#row + 1] = redis.call("zcard", key)
        end
    end
    -- The job that has waited longest, recorded or not.
    local oldest = redis.call("zrange", idx_key(queue, "queued"), 0, 0, "WITHSCORES")
    local fresh = redis.call("zrange", fresh_key(queue), 0, 0, "WITHSCORES")
    if fresh[2] and (not oldest[2] or tonumber(fresh[2]) < tonumber(oldest[2])) then oldest = fresh end
    row[#row + 1] = oldest
    for b = first_bucket, first_bucket + buckets - 1 do
        row[#row + 1] = redis.call("hmget", tp_key(queue, b), "ok", "fail", "ms", "timed")
    end
    row[#row + 1] = redis.call("hgetall", hist_key(queue))
    row[#row + 1] = redis.call("hgetall", wait_key(queue))
    row[#row + 1] = redis.call("zcount", due_key(queue), "-inf", now - overdue_ms)
    local waiting, served = {}, {}
    for _, priority in ipairs(priorities) do
        local rq = physical(queue, priority)
        waiting[#waiting + 1] = redis.call("llen", queue_key(rq)) + redis.call("llen", dq_key(rq))
        served[#served + 1] = redis.call("zcount", serving_key(rq), now - timeout, "+inf")
    end
    row[#row + 1] = waiting
    row[#row + 1] = served
    out[#out + 1] = row
end
out[#out + 1] = redis.call("hgetall", totals_key)
out[#out + 1] = redis.call("zcount", workers_key, now - timeout, "+inf")
out[#out + 1] = redis.call("zcount", workers_key, "-inf", "(" .. (now - timeout))
local listed = {}
local seen = redis.call("zrangebyscore", workers_key, listed_since, "+inf", "WITHSCORES", "LIMIT", 0, listed_max)
for i = 1, #seen, 2 do
    local body = redis.call("get", worker_key(seen[i]))
    if body then
        listed[#listed + 1] = seen[i]
        listed[#listed + 1] = seen[i + 1]
        listed[#listed + 1] = body
    end
end
out[#out + 1] = listed
out[#out + 1] = redis.call("smembers", paused_key)
out[#out + 1] = redis.call("get", data_lost_key)
return out
