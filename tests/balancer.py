"""HAProxy (Debian's package) in front of service processes on this machine, with deploy/haproxy.cfg."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import find_program
from tests.serving import ROOT, free_port

CONFIG = ROOT / "deploy" / "haproxy.cfg"


def haproxy_binary() -> str:
    """The haproxy executable (tests using it carry ``requires_program("haproxy")``, checked before they start)."""
    found = find_program("haproxy")
    if found is None:
        raise AssertionError("haproxy is not installed: `apt-get install haproxy` (.ci/run installs it)")
    return found


def local_config(backends: Sequence[str], port: int) -> str:
    """deploy/haproxy.cfg with its public port on the loopback and static servers instead of compose's DNS."""
    text = CONFIG.read_text(encoding="utf-8")
    servers = "\n".join(f"    server api{n} {address} check" for n, address in enumerate(backends, start=1))
    text, replaced = re.subn(r"^    server-template .*$", servers, text, flags=re.MULTILINE)
    assert replaced == 1, "deploy/haproxy.cfg must have one server-template line"
    text, replaced = re.subn(r"^    bind :\d+$", f"    bind 127.0.0.1:{port}", text, flags=re.MULTILINE)
    assert replaced == 1, "deploy/haproxy.cfg must bind one public port"
    return text


@dataclass
class Balancer:
    base_url: str
    process: subprocess.Popen[str]


def wait_for_servers(base_url: str, count: int, timeout: float = 20) -> None:
    """Until the balancer has sent requests to ``count`` different servers (each passed its health checks)."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {sorted(seen)} of {count} servers answered through the balancer"
        try:
            response = httpx.get(f"{base_url}/health", timeout=2)
            if response.status_code == 200:
                seen.add(response.headers["x-served-by"])
        except httpx.TransportError:
            pass
        time.sleep(0.05)


@contextmanager
def haproxy(backends: Sequence[str], folder: Path) -> Iterator[Balancer]:
    """HAProxy on a free loopback port in front of ``backends`` (``host:port``), once every backend is up."""
    port = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(local_config(backends, port), encoding="utf-8")
    process = subprocess.Popen(
        [haproxy_binary(), "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    balancer = Balancer(f"http://127.0.0.1:{port}", process)
    try:
        wait_for_servers(balancer.base_url, len(backends))
        yield balancer
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
