"""The shipped Grafana dashboard and Prometheus alert rules only use metrics a live server exports,
and the rules are valid (promtool when installed, a schema check always)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gemsdash.queue import JobType, Runtime, add_job, get_job
from tests.core.workload import email, scripted
from tests.support import wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "gemsdash.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yml"
METRIC_NAME = re.compile(r"\bgemsdash_[a-z_]+\b")


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_metric_in_the_dashboard_and_the_alerts_is_exported(api: httpx.Client, any_runtime: Runtime) -> None:
    with scripted():
        job = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        wait_for(lambda: (r := get_job(job)) is not None and r.state == "succeeded", what="a job to succeed")
    text = api.get("/metrics").text
    exported = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    used = {name for query in dashboard_queries() for name in METRIC_NAME.findall(query)}
    used |= {name for rule in alert_rules() for name in METRIC_NAME.findall(str(rule["expr"]))}
    assert len(used) >= 15
    assert used - exported == set()


def test_the_dashboard_has_the_panels_the_docs_describe() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = [panel["title"] for panel in dashboard["panels"]]
    docs = (ROOT / "docs" / "monitoring.md").read_text()
    assert [t for t in titles if f"**{t}**" not in docs] == []
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(titles)
    assert dashboard["__inputs"][0]["name"] == "DS_PROMETHEUS"


def test_alert_rules_are_well_formed() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == {
        "GemsdashBacklogGrowing",
        "GemsdashOldestJobTooOld",
        "GemsdashDeadJobsRising",
        "GemsdashNoWorkers",
        "GemsdashRedisDown",
        "GemsdashSnapshotStale",
        "GemsdashRedisLostData",
    }
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description"} <= set(rule["annotations"])


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    checked = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        ["promtool", "test", "rules", ALERT_TESTS.name], capture_output=True, text=True, timeout=60, cwd=ALERTS.parent
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
