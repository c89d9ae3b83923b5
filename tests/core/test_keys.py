"""The Redis key names are stored data: production Redis holds jobs, schedules and ledgers under
them, so a rename would orphan them. Pinned here, and the Lua scripts' names checked to be the same."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
import redis

from gemsdash.queue.keys import TEMPLATES, Keys, cluster_namespace, with_lua_keys

PARTS = {
    "job_id": "J1",
    "queue": "payment-processing",
    "state": "queued",
    "bucket": "177",
    "worker": "W1",
    "rq": "payment-processing.high",
    "name": "nightly",
    "digest": "abc",
    "payment_id": "pay_1",
    "kind": "email:sent",
}

EXPECTED = {
    "job": "ns:gd:job:J1",
    "idx": "ns:gd:idx:payment-processing:queued",
    "tp": "ns:gd:tp:payment-processing:177",
    "totals": "ns:gd:totals",
    "hist": "ns:gd:hist:payment-processing",
    "wait": "ns:gd:wait:payment-processing",
    "workers": "ns:gd:workers",
    "layout2": "ns:gd:workers:layout2",
    "layout3": "ns:gd:workers:layout3",
    "epoch": "ns:gd:epoch",
    "data_lost": "ns:gd:data-lost",
    "worker": "ns:gd:worker:W1",
    "due": "ns:gd:due:payment-processing",
    "serving": "ns:gd:serving:payment-processing.high",
    "audit": "ns:gd:audit",
    "paused": "ns:gd:paused",
    "logs": "ns:gd:logs:J1",
    "aborts": "ns:gd:aborts",
    "fetched": "ns:gd:fetched:W1:payment-processing.high",
    "fresh": "ns:gd:fresh:payment-processing",
    "ids": "ns:gd:ids",
    "all_states": "ns:gd:all:payment-processing",
    "backfill": "ns:gd:backfill:payment-processing",
    "schedules": "ns:gd:schedules",
    "sched_due": "ns:gd:sched-due",
    "sched": "ns:gd:sched:nightly",
    "ledger_idem": "ns:gd:ledger:idem:abc",
    "ledger_payment": "ns:gd:ledger:payment:pay_1",
    "ledger_journal": "ns:gd:ledger:journal:pay_1",
    "fact": "ns:gd:email:sent:J1",
    # Dramatiq's own format
    "queue": "ns:payment-processing.high",
    "dq": "ns:payment-processing.high.DQ",
    "msgs": "ns:payment-processing.high.msgs",
    "xq": "ns:payment-processing.high.XQ",
    "xq_msgs": "ns:payment-processing.high.XQ.msgs",
    "acks": "ns:__acks__.W1.payment-processing.high",
    "heartbeats": "ns:__heartbeats__",
}


def test_every_key_of_a_namespace_has_its_exact_name() -> None:
    assert Keys("ns").all(**PARTS) == EXPECTED


def test_a_cluster_namespace_is_one_hash_tag_around_every_key() -> None:
    tagged = cluster_namespace("ns")
    assert tagged == "{ns}" and cluster_namespace(tagged) == "{ns}"
    assert Keys(tagged).job("J1") == "{ns}:gd:job:J1"
    assert Keys(tagged).all(**PARTS)["acks"] == "{ns}:__acks__.W1.payment-processing.high"


def test_the_lua_scripts_spell_no_key_themselves() -> None:
    for script in ("jobs.lua", "hot.lua", "shared.lua", "snapshot.lua"):
        source = files("gemsdash.queue.redis_store").joinpath(script).read_text()
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("--"))
        assert not re.search(r'":gd:|__acks__|__heartbeats__|\.msgs"|\.XQ"|\bns *\.\.', code), script


def test_lua_builds_the_same_names_as_python(redis_client: redis.Redis) -> None:
    """Each `<name>_key` of the spliced header, called in Redis, against `Keys.all`."""
    lines, names = [], list(TEMPLATES)
    for name in names:
        params = [f for f in re.findall(r"{(\w+)}", TEMPLATES[name]) if f != "ns"]
        args = ", ".join(f"P[{list(PARTS).index(p) + 1}]" for p in params)
        lines.append(f"out[#out + 1] = {name}_key({args})" if params else f"out[#out + 1] = {name}_key")
    source = "local ns = KEYS[1]\nlocal P = ARGV\n--!keys\nlocal out = {}\n" + "\n".join(lines) + "\nreturn out"
    got = redis_client.eval(with_lua_keys(source), 1, "ns", *PARTS.values())
    assert dict(zip(names, (v.decode() for v in got), strict=True)) == EXPECTED


def test_a_script_without_its_keys_line_is_refused() -> None:
    with pytest.raises(ValueError, match="--!keys"):
        with_lua_keys("local ns = KEYS[1]\nreturn 1")
