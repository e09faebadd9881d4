"""compose.yaml is accepted by a real compose tool and keeps the deployment's ordering and safety invariants.

With ``docker-compose`` (or ``docker compose``) available, the tool itself validates and normalises the file
(``config`` needs no Docker engine). Without one, the file is parsed with PyYAML, interpolated the way compose
does, structurally checked, and the same invariants are asserted: the test never skips.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose.yaml"
SECRET = "compose-test-secret-" + "s" * 32
ENGINE_FREE_TIMEOUT = 60

Config = dict[str, Any]


def compose_command() -> list[str] | None:
    """``docker-compose`` if on PATH, else ``docker compose`` if that plugin works, else None."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        try:
            probe = subprocess.run(
                ["docker", "compose", "version"], capture_output=True, text=True, timeout=ENGINE_FREE_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def compose_env(**overrides: str | None) -> dict[str, str]:
    """The process environment with JWT_SECRET set, then ``overrides`` (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD", "COMPOSE_FILE")}
    env["JWT_SECRET"] = SECRET
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


class ComposeRejectedError(Exception):
    """The compose tool (or the fallback interpolation) refused the file."""


def tool_config(command: list[str], env: Mapping[str, str]) -> Config:
    """The file as normalised by the compose tool's ``config`` command."""
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=ROOT,
        timeout=ENGINE_FREE_TIMEOUT,
    )
    if result.returncode != 0:
        raise ComposeRejectedError(result.stderr.strip() or result.stdout.strip())
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict), result.stdout
    return config


_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's variable substitution (``$$``, ``${V}``, ``${V:-default}``, ``${V:?error}``) on every value."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        current = env.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in ("?", ":?") and missing:
            raise ComposeRejectedError(f"Missing mandatory value for {name}: {arg}")
        if op in ("-", ":-") and missing:
            return arg
        return current or ""

    return _VARIABLE.sub(substitute, value)


_TOP_LEVEL = {"version", "name", "services", "volumes", "networks", "configs", "secrets"}
_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def yaml_config(env: Mapping[str, str]) -> Config:
    """Without a compose tool: parse, interpolate and structurally check the file, like ``config`` would."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict), "compose.yaml must be a mapping"
    unknown = {key for key in raw if key not in _TOP_LEVEL and not key.startswith("x-")}
    assert not unknown, f"unknown top-level keys {unknown}"
    config = interpolate(raw, env)
    services = config.get("services")
    assert isinstance(services, dict), "services must be a mapping"
    declared_volumes = set(config.get("volumes") or {})
    for name, service in services.items():
        assert isinstance(service, dict), f"service {name} must be a mapping"
        assert "image" in service or "build" in service, f"service {name} has neither image nor build"
        for target in depends_on(service):
            assert target in services, f"service {name} depends on undefined service {target}"
        for condition in depends_on(service).values():
            assert condition in _CONDITIONS, f"service {name}: unknown depends_on condition {condition!r}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared_volumes, f"service {name} uses undeclared named volume {source}"
    return config


def load_config(env: Mapping[str, str]) -> tuple[Config, str]:
    """The normalised config and what produced it (the compose command, or ``pyyaml``)."""
    command = compose_command()
    if command is None:
        return yaml_config(env), "pyyaml"
    return tool_config(command, env), " ".join(command)


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """``{service: condition}``; the short (list) syntax means ``service_started``."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    return {key: "" if item is None else str(item) for key, item in value.items()}


def published_port_count(entry: Any) -> int:
    """How many host ports one ``ports`` entry publishes (short string or long mapping syntax)."""
    if isinstance(entry, dict):
        published = str(entry.get("published", "") or "")
    else:
        parts = str(entry).split("/", 1)[0].split(":")
        published = parts[-2] if len(parts) >= 2 else ""
    if not published:
        return 0
    low, _, high = published.partition("-")
    return int(high or low) - int(low) + 1


def replicas(service: Mapping[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", service.get("scale", 1)))


def check_invariants(config: Config) -> None:
    """The deployment's rules; every one of them is an assertion that fails when the file breaks it."""
    services = config["services"]
    assert {"db", "migrate", "api", "balancer"} <= set(services), f"services: {sorted(services)}"
    db, migrate, api = services["db"], services["migrate"], services["api"]

    test = (db.get("healthcheck") or {}).get("test")
    assert test, "db needs a healthcheck"
    assert test not in (["NONE"], "NONE"), "db healthcheck is disabled"
    assert not db["healthcheck"].get("disable"), "db healthcheck is disabled"
    assert "pg_isready" in " ".join(test if isinstance(test, list) else [test]), test

    assert depends_on(migrate).get("db") == "service_healthy", "migrate must wait for a healthy db"
    command = migrate.get("command")
    command_text = " ".join(command) if isinstance(command, list) else str(command)
    assert re.search(r"\baerich\b.*\bupgrade\b", command_text), f"migrate must run aerich upgrade: {command_text}"
    assert replicas(migrate) == 1, "migrations must run in exactly one container"
    assert migrate.get("restart", "no") in ("no", "never"), "a restarting migrate job could run again"

    assert depends_on(api).get("migrate") == "service_completed_successfully", "api must wait for migrations"
    assert depends_on(api).get("db") == "service_healthy", "api must wait for a healthy db"
    api_env = environment(api)
    assert api_env.get("MIGRATE_ON_START") == "0", "api replicas must never migrate"
    assert api_env.get("APP_ENV") == "production"
    assert api_env.get("JWT_SECRET") == SECRET, "JWT_SECRET must come from the environment"
    balancer = services["balancer"]
    balancer_address = ((balancer.get("networks") or {}).get("edge") or {}).get("ipv4_address")
    assert balancer_address, "the balancer needs a fixed address on the edge network"
    assert api_env.get("FORWARDED_ALLOW_IPS") == balancer_address, "proxy headers are trusted from the balancer only"
    assert api_env.get("WORKERS") == "1"
    assert "@db:" in api_env.get("DATABASE_URL", ""), "api must use the db service"
    assert environment(migrate).get("DATABASE_URL") == api_env["DATABASE_URL"], "migrate must migrate api's db"

    assert replicas(api) == 2
    assert not api.get("ports"), "api replicas are reached through the balancer only"
    assert "edge" in (api.get("networks") or []), "the balancer must reach the api replicas"
    assert "haproxy" in str(balancer.get("image", "")), balancer.get("image")
    assert [published_port_count(entry) for entry in balancer.get("ports", [])] == [1], "one public port"
    volumes = " ".join(str(volume) for volume in balancer.get("volumes", []))
    assert "deploy/haproxy.cfg" in volumes, "the balancer must run deploy/haproxy.cfg (the config the tests run)"
    check_observability(services)


OBSERVABILITY_MOUNTS = {
    "prometheus": ("deploy/prometheus.yml", "deploy/alerts.yml"),
    "grafana": ("deploy/grafana/provisioning", "deploy/grafana/dashboards"),
}


def check_observability(services: Config) -> None:
    """Prometheus and Grafana run only in the ``observability`` profile, on the loopback, with the files in deploy/."""
    for name, mounts in OBSERVABILITY_MOUNTS.items():
        assert name in services, f"the observability profile needs {name}"
        service = services[name]
        assert service.get("profiles") == ["observability"], f"{name} must start only with --profile observability"
        for entry in service.get("ports", []):
            host_ip = entry.get("host_ip") if isinstance(entry, dict) else str(entry).rsplit(":", 2)[0]
            assert host_ip == "127.0.0.1", f"{name} must publish on the loopback only: {entry}"
        volumes = " ".join(str(volume) for volume in service.get("volumes", []))
        for mount in mounts:
            assert mount in volumes, f"{name} must mount {mount}"
    for name in set(services) - set(OBSERVABILITY_MOUNTS):
        assert not services[name].get("profiles"), f"{name} must start with a plain `up`"


def test_compose_file_is_accepted_and_keeps_its_invariants() -> None:
    config, source = load_config(compose_env())
    if shutil.which("docker-compose"):
        assert source == "docker-compose"
    assert source in ("docker-compose", "docker compose", "pyyaml")
    check_invariants(config)


def test_the_observability_profile_is_accepted() -> None:
    command = compose_command()
    if command is None:
        config = yaml_config(compose_env())
    else:
        config = tool_config([*command, "--profile", "observability"], compose_env())
    assert {"prometheus", "grafana"} <= set(config["services"])
    check_invariants(config)


def test_jwt_secret_is_required() -> None:
    with pytest.raises(ComposeRejectedError, match="JWT_SECRET"):
        load_config(compose_env(JWT_SECRET=None))


def test_without_a_compose_tool_the_file_is_still_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name, *args, **kwargs: None)
    assert compose_command() is None
    config, source = load_config(compose_env())
    assert source == "pyyaml"
    check_invariants(config)
    with pytest.raises(ComposeRejectedError, match="JWT_SECRET"):
        load_config(compose_env(JWT_SECRET=None))


def _set(path: str, value: Any) -> Callable[[Config], None]:
    def mutate(config: Config) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return mutate


@pytest.mark.parametrize(
    "mutate",
    [
        _set("services.api.depends_on.migrate.condition", "service_started"),
        _set("services.api.depends_on", ["db", "migrate"]),
        _set("services.migrate.depends_on.db.condition", "service_started"),
        _set("services.api.environment.MIGRATE_ON_START", "1"),
        _set("services.api.environment.APP_ENV", "development"),
        _set("services.api.environment.JWT_SECRET", "dev-only-insecure-secret-change-me"),
        _set("services.api.environment.FORWARDED_ALLOW_IPS", "*"),
        _set("services.db.healthcheck", None),
        _set("services.db.healthcheck.test", ["NONE"]),
        _set("services.migrate.deploy", {"replicas": 2}),
        _set("services.migrate.restart", "on-failure"),
        _set("services.api.ports", ["127.0.0.1:8001:8000"]),
        _set("services.api.environment.FORWARDED_ALLOW_IPS", None),
        _set("services.balancer.ports", ["127.0.0.1:8000-8001:8080"]),
        _set("services.prometheus.profiles", None),
        _set("services.grafana.ports", ["3000:3000"]),
        _set("services.prometheus.volumes", ["prometheus:/prometheus"]),
        _set("services.api.profiles", ["observability"]),
    ],
    ids=[
        "api-starts-before-migrations-finish",
        "api-short-depends-on",
        "migrate-before-db-healthy",
        "api-migrates",
        "api-not-production",
        "api-fixed-secret",
        "api-trusts-any-proxy",
        "db-without-healthcheck",
        "db-healthcheck-disabled",
        "migrate-replicated",
        "migrate-restarts",
        "api-published-past-the-balancer",
        "api-trusts-no-proxy",
        "balancer-publishes-two-ports",
        "prometheus-always-on",
        "grafana-published-everywhere",
        "prometheus-without-its-config",
        "api-in-a-profile",
    ],
)
def test_invariants_catch_a_broken_file(mutate: Callable[[Config], None]) -> None:
    config = copy.deepcopy(yaml_config(compose_env()))
    check_invariants(config)  # the real file passes...
    mutate(config)
    with pytest.raises(AssertionError):  # ...and each break is caught
        check_invariants(config)


def test_dockerfile_keeps_migrations_next_to_the_code() -> None:
    """service/db/ looks for <parent of the service package>/migrations: the image must keep them together."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    assert instructions[0].startswith("FROM python:3.11-slim")
    assert "WORKDIR /app" in instructions
    assert any(re.match(r"COPY migrations/? \./migrations/?$", line) for line in instructions), "migrations"
    assert any(re.match(r"COPY service/? \./service/?$", line) for line in instructions), "service"
    assert re.search(r"pip install [^\n]*-e \.", dockerfile), "the project must be installed editable from /app"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users, "the image must switch to a non-root USER"
    assert users[-1] not in ("root", "0"), "the service must not run as root"
    assert re.search(r"^HEALTHCHECK .*urllib.*/health", dockerfile, re.MULTILINE | re.DOTALL), "HEALTHCHECK"
    assert instructions[-1] == 'CMD ["python", "-m", "service", "serve"]'
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".pgdata", ".git", "tests", "bench/results"} <= set(ignored)
