-- Record one capture or refund in the sandbox ledger, at most once per idempotency key.
--
-- One script, so the idempotency check, the refund limit and the write are one atomic step: two
-- workers running the same key, or a retry after a worker died between this write and the job's
-- acknowledgement, find the first outcome and move no money again. Amounts are kept by HINCRBY
-- (exact 64-bit integers) and passed back as strings: Lua numbers would lose digits past 1e14.
--
-- KEYS: 1 idempotency record (hash), 2 payment totals (hash), 3 payment journal (list)
-- ARGV: 1 operation (capture|refund), 2 fingerprint, 3 payment_id, 4 amount, 5 currency,
--       6 transaction_id, 7 now (ms)
-- Returns {"ok"|"replay", field, value, ...} or {"error", reason, detail}.

local idem, payment, journal = KEYS[1], KEYS[2], KEYS[3]
local op, fingerprint, payment_id, amount, currency, txn, now =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]

if redis.call('EXISTS', idem) == 1 then
  if redis.call('HGET', idem, 'fingerprint') ~= fingerprint then
    return {'error', 'key_reused', redis.call('HGET', idem, 'operation') or ''}
  end
  local stored = redis.call('HGETALL', idem)
  table.insert(stored, 1, 'replay')
  return stored
end

local have = redis.call('HGET', payment, 'currency')
if have and have ~= currency then
  return {'error', 'currency_mismatch', have}
end

if op == 'refund' then
  local captured = tonumber(redis.call('HGET', payment, 'captured') or '0')
  local refunded = tonumber(redis.call('HGET', payment, 'refunded') or '0')
  if tonumber(amount) > captured - refunded then
    return {'error', 'refund_exceeds', string.format('%d', captured - refunded)}
  end
end

redis.call('HSETNX', payment, 'currency', currency)
redis.call('HINCRBY', payment, op == 'capture' and 'captured' or 'refunded', amount)
redis.call('HINCRBY', payment, op == 'capture' and 'captures' or 'refunds', 1)
redis.call('HSET', payment, 'updated_at', now)
local captured = redis.call('HGET', payment, 'captured') or '0'
local refunded = redis.call('HGET', payment, 'refunded') or '0'

local entry = {
  'operation', op, 'payment_id', payment_id, 'amount', amount, 'currency', currency,
  'transaction_id', txn, 'at', now, 'captured_total', captured, 'refunded_total', refunded,
  'fingerprint', fingerprint,
}
redis.call('HSET', idem, unpack(entry))
redis.call('RPUSH', journal, cjson.encode({
  operation = op, amount = amount, currency = currency, transaction_id = txn, at = now,
}))
table.insert(entry, 1, 'ok')
return entry
