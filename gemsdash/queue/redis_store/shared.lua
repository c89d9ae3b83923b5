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
