"""Shards on highly available Redis: a shard given as a hash tag on the default Redis Cluster, and a
shard given as a Sentinel group beside a plain default Redis. Each job's keys are where its shard
says (the tag's slot on another primary; the Sentinel-managed primary), a worker per shard runs
them, and `gemsdash stats --json` shows every queue with both shards up."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import redis

from gemsdash.queue import JobType, add_job, configure
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.faults.test_shards import PAYLOADS, PAYMENT, keys_naming, succeeded
from tests.faults.workers import ROOT, WorkerProcess, worker_env
from tests.support import ClusterGroup, RedisServer, SentinelGroup, text, wait_for

pytestmark = pytest.mark.slow

OTHERS = [t for t in PAYLOADS if t is not JobType.PAYMENT_PROCESSING]


def run_shards(env: dict[str, str], tmp_path: Path, shard: str, ids: dict[JobType, str]) -> dict[str, Any]:
    """A worker for the default shard and one for `shard` run every job; `gemsdash stats --json`
    then shows all queues with their success, both workers and both shards up. Returns that JSON."""
    started = [WorkerProcess(env, tmp_path, threads=2), WorkerProcess(env, tmp_path, "--shard", shard, threads=2)]
    try:
        wait_for(
            lambda: all(succeeded(i) for i in ids.values()),
            timeout=40,
            interval=0.2,
            what=f"every job to succeed (worker logs in {tmp_path})",
        )
        out = subprocess.run(
            [sys.executable, "-m", "gemsdash", "stats", "--json"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        data: dict[str, Any] = json.loads(out.stdout)
        assert list(data["queues"]) == [t.value for t in JobType]
        # Exactly its own job in each queue: nothing of another deployment's.
        assert all(data["queues"][t.value]["succeeded"] == sum(data["queues"][t.value].values()) == 1 for t in ids), (
            data["queues"]
        )
        assert {name: s["up"] for name, s in data["shards"].items()} == {"default": True, shard: True}
        assert data["unavailable"] == {}
        assert data["workers"] == 2
        return data
    finally:
        for worker in started:
            worker.stop()


def deployment(namespace: str, shards: str, **connection: str) -> None:
    """This process as one deployment's producer: its namespace, its default Redis, its shard map."""
    runtime_module.reset()
    configure(
        test_settings(
            redis_enabled=True, namespace=namespace, worker_timeout_seconds=2, shards_map=shards, **connection
        ),
        role="oneshot",
    )


def job_keys(client: redis.Redis, job_ids: Iterable[str]) -> list[str]:
    return [text(k) for job_id in job_ids for k in keys_naming(client, job_id)]


@pytest.mark.timeout(120)
def test_a_tag_shard_puts_its_jobs_in_its_slot_on_another_primary(tmp_path: Path) -> None:
    namespace = f"sha-{uuid.uuid4().hex[:8]}"
    with ClusterGroup() as cluster:
        default_owner = cluster.owner("{" + namespace + "}")
        # A tag whose slot another primary serves: the point of a tag shard.
        tag = next(f"pay{i}" for i in range(200) if cluster.owner("{" + f"pay{i}" + "}") is not default_owner)
        tag_owner = cluster.owner("{" + tag + "}")
        assert tag_owner is not default_owner
        shards = json.dumps({"pay": {"tag": tag, "queues": [PAYMENT]}})

        # Another deployment (its own GEMSDASH_NAMESPACE) on the same cluster with the same map: its
        # payment stays its own, neither counted nor run by this deployment's pay shard.
        deployment(f"other-{namespace}", shards, redis_cluster_nodes=cluster.addresses)
        add_job(JobType.PAYMENT_PROCESSING, PAYLOADS[JobType.PAYMENT_PROCESSING])
        deployment(namespace, shards, redis_cluster_nodes=cluster.addresses)
        on_default = redis.Redis(port=default_owner.port)
        on_tag = redis.Redis(port=tag_owner.port)
        try:
            ids = {t: add_job(t, payload) for t, payload in PAYLOADS.items()}
            payment = [ids[JobType.PAYMENT_PROCESSING]]
            others = [ids[t] for t in OTHERS]

            tag_slot = int(on_tag.cluster("keyslot", "{" + tag + "}"))
            default_slot = int(on_default.cluster("keyslot", "{" + namespace + "}"))
            assert job_keys(on_tag, payment) and not job_keys(on_default, payment)
            assert {int(on_tag.cluster("keyslot", k)) for k in job_keys(on_tag, payment)} == {tag_slot}
            assert job_keys(on_default, others) and not job_keys(on_tag, others)
            assert {int(on_default.cluster("keyslot", k)) for k in job_keys(on_default, others)} == {default_slot}
            assert keys_naming(on_tag, PAYMENT) and not keys_naming(on_default, PAYMENT)
            # Nothing anywhere else: every key of the cluster is in one of the three namespaces' slots.
            everywhere = [k for n in cluster.nodes for k in redis.Redis(port=n.port).scan_iter(count=1000)]
            other_slot = int(on_tag.cluster("keyslot", "{other-" + namespace + "}"))
            slots = {int(on_tag.cluster("keyslot", k)) for k in everywhere}
            assert {tag_slot, default_slot} <= slots <= {tag_slot, default_slot, other_slot}

            env = worker_env(None, namespace, tmp_path, REDIS_CLUSTER_NODES=cluster.addresses, GEMSDASH_SHARDS=shards)
            run_shards(env, tmp_path, "pay", ids)
        finally:
            on_default.close()
            on_tag.close()
            runtime_module.reset()


@pytest.mark.timeout(120)
def test_a_sentinel_shard_puts_its_jobs_on_the_sentinel_managed_primary(tmp_path: Path) -> None:
    namespace = f"shs-{uuid.uuid4().hex[:8]}"
    # A master name of its own: the shard's `sentinel_master`, not REDIS_SENTINEL_MASTER, must be used.
    with RedisServer() as default, SentinelGroup(master="paymaster") as group:
        shards = json.dumps(
            {"pay": {"sentinels": group.addresses, "sentinel_master": "paymaster", "queues": [PAYMENT]}}
        )
        deployment(namespace, shards, redis_url=default.url)
        on_default = redis.Redis.from_url(default.url)
        on_primary = redis.Redis(port=group.primary_port())
        try:
            ids = {t: add_job(t, payload) for t, payload in PAYLOADS.items()}
            payment = [ids[JobType.PAYMENT_PROCESSING]]
            others = [ids[t] for t in OTHERS]
            assert job_keys(on_primary, payment) and not job_keys(on_default, payment)
            assert job_keys(on_default, others) and not job_keys(on_primary, others)
            assert keys_naming(on_primary, PAYMENT) and not keys_naming(on_default, PAYMENT)

            env = worker_env(default.url, namespace, tmp_path, GEMSDASH_SHARDS=shards)
            data = run_shards(env, tmp_path, "pay", ids)
            assert data["shards"]["pay"]["url"] == f"sentinel://{group.addresses}/paymaster"
        finally:
            on_default.close()
            on_primary.close()
            runtime_module.reset()
