"""Every Redis key gemsdash writes or reads, named once (as arq names its keys in `constants.py`).

Python builds keys with `Keys(namespace)`; the Lua scripts get the same names as local functions
spliced in at their `--!keys` line when they are loaded (`with_lua_keys`), so no script spells a key
itself. The names are stored data: changing one orphans what production Redis holds under the old
name (tests/core/test_keys.py pins them).

The namespace is shared with Dramatiq's RedisBroker, so its keys sit beside ours. On a Redis
Cluster the namespace is one hash tag (`{name}`, see `cluster_namespace`): every key of the
namespace, Dramatiq's included, is in one slot, so each script touches one node.
"""

from __future__ import annotations

import re
from string import Formatter

#: name -> template. `{ns}` is the namespace; other fields are the key's parts. The Lua function
#: for a name is `<name>_key` (a constant, not a function, when the template has no other field).
TEMPLATES: dict[str, str] = {
    # -- gemsdash's own keys -------------------------------------------------------------------
    #: JSON record (payload and result kept as JSON strings inside it)
    "job": "{ns}:gd:job:{job_id}",
    #: zset of job ids, scored by when they entered the state (ms)
    "idx": "{ns}:gd:idx:{queue}:{state}",
    #: hash {ok, fail, ms, timed} of jobs finished in a 10 s bucket (timed: those with a duration,
    #: which ms adds up)
    "tp": "{ns}:gd:tp:{queue}:{bucket}",
    #: hash of lifetime counters: <queue>:succeeded and <queue>:dead (jobs finished),
    #: <queue>:enqueued:<priority>, <queue>:attempt:<outcome>
    "totals": "{ns}:gd:totals",
    #: hash: histogram of every attempt's duration (ms bound or inf -> attempts, sum; a `count`
    #: field written by older versions is left unread)
    "hist": "{ns}:gd:hist:{queue}",
    #: hash: histogram of the time a job waited queued before a run (same shape)
    "wait": "{ns}:gd:wait:{queue}",
    #: zset of live gemsdash workers by last heartbeat (ms)
    "workers": "{ns}:gd:workers",
    #: JSON of a worker's heartbeat (threads, in_flight, ...), expiring
    "worker": "{ns}:gd:worker:{worker}",
    #: zset of the workers in `workers` that read records in the HEAD/TIMELINE/BODY layout, by the
    #: same heartbeat (ms): fewer live here than there means an older worker is alive
    "layout2": "{ns}:gd:workers:layout2",
    #: zset of the workers in `workers` that read a waiting job from its message alone (no record
    #: while it waits, `fresh` below), by the same heartbeat (ms): fewer live here than in `workers`
    #: means an older worker is alive, and producers write records as before
    "layout3": "{ns}:gd:workers:layout3",
    #: "<Redis ms>:<worker id>" of the first heartbeat on this data set: a long-lived worker that
    #: sees it change knows Redis lost its data in between (it came back empty)
    "epoch": "{ns}:gd:epoch",
    #: JSON {detected_at, worker, before, after} of the last such loss, kept a day, for health
    "data_lost": "{ns}:gd:data-lost",
    #: zset of delayed and retrying job ids by due time (ms), for health
    "due": "{ns}:gd:due:{queue}",
    #: zset of worker ids consuming the physical queue rq, by last heartbeat
    "serving": "{ns}:gd:serving:{rq}",
    #: capped list of admin actions (JSON)
    "audit": "{ns}:gd:audit",
    #: set of queues paused by an operator (workers skip them)
    "paused": "{ns}:gd:paused",
    #: JSON list of what the job logged in its last run (dead TTL)
    "logs": "{ns}:gd:logs:{job_id}",
    #: hash of running job id -> who asked to abort it (middleware/abort.py)
    "aborts": "{ns}:gd:aborts",
    #: what a worker's last fetch of the physical queue rq took, for an hour:
    #: "<token>|<rmid>,...|<rmid>,<job id>,..." (the messages, then those whose records it started),
    #: so that a consumer whose fetch's reply was lost can take them back (hot.lua `refetch`)
    "fetched": "{ns}:gd:fetched:{worker}:{rq}",
    #: zset of a queue's jobs that wait with no record yet, by creation (ms): a first-delivery
    #: `queued` job is its message alone until its first transition writes its record (jobs.lua
    #: `load`, shared.lua `fresh_record`), which halves what a backlog costs Redis
    "fresh": "{ns}:gd:fresh:{queue}",
    #: zset of every job id at score 0, so a prefix is one ZRANGEBYLEX (entries of expired records
    #: go with their state index's prune)
    "ids": "{ns}:gd:ids",
    #: zset of a queue's job ids by creation (ms), whatever their state: the all-states view is one
    #: read by rank at any offset (entries of expired records go with their state index's prune)
    "all_states": "{ns}:gd:all:{queue}",
    #: how far recovery has copied a queue's records written before `ids` and `all_states` existed
    #: into them: "<state number>:<rank>" of the state indexes walked, or "done"
    "backfill": "{ns}:gd:backfill:{queue}",
    #: zset of schedule names, scored by creation (ms)
    "schedules": "{ns}:gd:schedules",
    #: zset of the unpaused schedules, scored by next run (ms)
    "sched_due": "{ns}:gd:sched-due",
    #: hash {definition (JSON), gen, next, paused, last_tick, last_at, last_job, fired, missed}
    "sched": "{ns}:gd:sched:{name}",
    #: job storage (job_storage.py): the payment ledger's idempotency record of a key (hash, by
    #: the key's SHA-256), a payment's totals (hash) and its journal (list)
    "ledger_idem": "{ns}:gd:ledger:idem:{digest}",
    "ledger_payment": "{ns}:gd:ledger:payment:{payment_id}",
    "ledger_journal": "{ns}:gd:ledger:journal:{payment_id}",
    #: job storage: a job's first recorded fact of a kind (JSON, expiring), e.g. email:sent
    "fact": "{ns}:gd:{kind}:{job_id}",
    # -- Dramatiq's keys, in Dramatiq's format (its RedisBroker and dispatch.lua write them) ----
    #: list of message ids of the physical queue rq, and of its delay queue (the queue `<rq>.DQ`)
    "queue": "{ns}:{rq}",
    "dq": "{ns}:{rq}.DQ",
    #: hash of message id -> message data of the physical queue rq
    "msgs": "{ns}:{rq}.msgs",
    #: dead-letter zset of rq (rq without `.DQ`) and hash of its messages
    "xq": "{ns}:{rq}.XQ",
    "xq_msgs": "{ns}:{rq}.XQ.msgs",
    #: per-worker set of fetched, unacknowledged message ids
    "acks": "{ns}:__acks__.{worker}.{rq}",
    #: zset of broker ids by last command (ms)
    "heartbeats": "{ns}:__heartbeats__",
}

_LUA_MARK = re.compile(r"^--!keys$", re.MULTILINE)


def _parts(template: str) -> list[tuple[str, str | None]]:
    return [(literal, field) for literal, field, _, _ in Formatter().parse(template)]


def cluster_namespace(namespace: str) -> str:
    """The namespace as one hash tag, so all its keys (Dramatiq's too) share one Cluster slot."""
    return namespace if namespace.startswith("{") else "{" + namespace + "}"


def tagged_namespace(tag: str, namespace: str) -> str:
    """A tag shard's namespace: in the slot of `{tag}`, and still the deployment's own (`{pay}gemsdash`),
    so two deployments on one Cluster whose shard maps name the same tag keep their jobs apart."""
    return "{" + tag + "}" + namespace.removeprefix("{").removesuffix("}")


class Keys:
    """The keys of one namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def _fill(self, which: str, /, **parts: str) -> str:
        return TEMPLATES[which].format(ns=self.namespace, **parts)

    @property
    def anchor(self) -> str:
        """A key of the namespace's slot: where a Cluster routes the namespace's writes."""
        return self._fill("job", job_id="")

    def job(self, job_id: str) -> str:
        return self._fill("job", job_id=job_id)

    def idx(self, queue: str, state: str) -> str:
        return self._fill("idx", queue=queue, state=state)

    def ids(self) -> str:
        return self._fill("ids")

    def audit(self) -> str:
        return self._fill("audit")

    def paused(self) -> str:
        return self._fill("paused")

    def logs(self, job_id: str) -> str:
        return self._fill("logs", job_id=job_id)

    def aborts(self) -> str:
        return self._fill("aborts")

    def workers(self) -> str:
        return self._fill("workers")

    def worker(self, worker: str) -> str:
        return self._fill("worker", worker=worker)

    def layout2(self) -> str:
        return self._fill("layout2")

    def layout3(self) -> str:
        return self._fill("layout3")

    def fresh(self, queue: str) -> str:
        return self._fill("fresh", queue=queue)

    def epoch(self) -> str:
        return self._fill("epoch")

    def data_lost(self) -> str:
        return self._fill("data_lost")

    def serving(self, rq: str) -> str:
        return self._fill("serving", rq=rq)

    def sched_due(self) -> str:
        return self._fill("sched_due")

    def ledger_idem(self, digest: str) -> str:
        return self._fill("ledger_idem", digest=digest)

    def ledger_payment(self, payment_id: str) -> str:
        return self._fill("ledger_payment", payment_id=payment_id)

    def ledger_journal(self, payment_id: str) -> str:
        return self._fill("ledger_journal", payment_id=payment_id)

    def fact(self, kind: str, job_id: str) -> str:
        return self._fill("fact", kind=kind, job_id=job_id)

    def all(self, **parts: str) -> dict[str, str]:
        """Every key, its fields filled from `parts` (for tests and tools that list them)."""
        return {name: self._fill(name, **parts) for name in TEMPLATES}


def _lua_definition(name: str, template: str) -> str:
    pieces: list[str] = []
    params: list[str] = []
    for literal, field in _parts(template):
        if literal:
            pieces.append('"' + literal + '"')
        if field is not None:
            pieces.append(field)
            if field != "ns":
                params.append(field)
    body = " .. ".join(pieces)
    if not params:
        return f"local {name}_key = {body}"
    return f"local function {name}_key({', '.join(params)}) return {body} end"


def with_lua_keys(source: str) -> str:
    """`source` with its `--!keys` line replaced by the key names it uses, as Lua locals built on
    the script's `ns` (which the script must have defined above that line)."""
    if len(_LUA_MARK.findall(source)) != 1:
        raise ValueError("a gemsdash Lua script needs exactly one --!keys line")
    used = [n for n, t in TEMPLATES.items() if re.search(rf"\b{n}_key\b", source)]
    header = "\n".join(_lua_definition(n, TEMPLATES[n]) for n in used)
    return _LUA_MARK.sub(lambda _: header, source)
