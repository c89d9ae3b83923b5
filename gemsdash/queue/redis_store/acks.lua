-- Dramatiq's acks of a batch of finished messages, shared by hot.lua and jobs.lua's `succeed`: both
-- have this spliced in at their `--!acks` line (store.py), after their `--!keys` locals and `now`.
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
