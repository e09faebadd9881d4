"""deploy/'s Prometheus configuration, alert rules and Grafana dashboard agree with the metrics the service serves
(every series and label they query exists), with compose, and with docs/operations.md."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from service.db.replicas import ReplicaState
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SELECTOR = re.compile(r"\b(posts_api_\w+)(?:\{([^}]*)\})?")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(DEPLOY / "alerts.yml")["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEPLOY / "grafana/dashboards/posts-api.json").read_text(encoding="utf-8"))
    return loaded


def dashboard_queries() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


@pytest.fixture
async def served_series(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Every series name the service serves (with one replica reported), and the labels each one has."""
    monkeypatch.setattr(metrics, "replica_states", lambda: [ReplicaState("replica_1", "ok", 0.1, "")])
    assert (await client.get("/tags")).status_code == 200
    text = (await client.get("/metrics")).text
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(set(sample.labels) - {"le"})
    return series


async def test_every_query_names_a_series_and_labels_the_service_serves(served_series: dict[str, set[str]]) -> None:
    queries = [rule["expr"] for rule in alert_rules()] + dashboard_queries()
    used = set()
    for query in queries:
        for name, matchers in SELECTOR.findall(query):
            used.add(name)
            assert name in served_series, f"{name} is not served: {query}"
            labels = set(MATCHER.findall(matchers))
            assert labels <= served_series[name] | {"le"}, f"{name} has no label {labels - served_series[name]}"
        for label in re.findall(r"by \(([^)]*)\)", query):
            names = {name for name, _ in SELECTOR.findall(query)}
            wanted = {part.strip() for part in label.split(",")} - {"le"}
            assert any(wanted <= served_series[name] for name in names), f"by ({label}) in {query}"
    assert used, "no query was checked"


def test_the_dashboard_shows_what_the_on_call_engineer_needs() -> None:
    queries = "\n".join(dashboard_queries())
    for needed in (
        "rate(posts_api_requests_total",  # request rate
        'status=~"5.."',  # errors
        "histogram_quantile(0.5,",  # p50 per route
        "histogram_quantile(0.99,",  # p99 per route
        "posts_api_db_pool_waiting",  # pool waits
        "posts_api_db_pool_timeouts_total",
        "posts_api_db_replica_lag_seconds",  # replica lag
        "posts_api_sign_in_refusals_total",  # sign-in refusals
        "posts_api_password_hashing",
        "posts_api_request_statements_total",
    ):
        assert needed in queries, needed
    provisioned = load_yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    uids = {source["uid"] for source in provisioned}
    for panel in dashboard()["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        if "by route" in panel["title"]:
            assert all("method, path)" in target["expr"] for target in panel["targets"]), panel["title"]


def test_prometheus_scrapes_each_api_replica_at_the_metrics_path() -> None:
    config = load_yaml(DEPLOY / "prometheus.yml")
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == "posts-api"]
    assert job["metrics_path"] == Settings.model_fields["metrics_path"].default
    [discovery] = job["dns_sd_configs"]
    assert discovery["names"] == ["api"]
    assert discovery["port"] == Settings.model_fields["port"].default
    assert "ENV HOST=0.0.0.0" in (ROOT / "Dockerfile").read_text(encoding="utf-8")
    compose = load_yaml(ROOT / "compose.yaml")
    mounts = compose["services"]["prometheus"]["volumes"]
    for rule_file in config["rule_files"]:
        assert any(mount.split(":")[1] == rule_file and "deploy/alerts.yml" in mount for mount in mounts), rule_file


def test_every_alert_is_explained_in_the_operations_guide() -> None:
    guide = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
    rules = alert_rules()
    assert len(rules) >= 8
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert f"`{rule['alert']}`" in guide, f"docs/operations.md does not explain {rule['alert']}"
