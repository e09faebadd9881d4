"""From raw runs to the printed tables: medians and spreads per endpoint, service/baseline ratios."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

SERVERS = ("service", "plain", "baseline")
"""``plain``: the service with ``ORM_FAST_PATH=0`` (``--plain``), when measured."""
TARGET_RPS_RATIO = 0.8  # service requests/s at least this share of the baseline's
TARGET_P99_RATIO = 1.5  # service p99 latency at most this multiple of the baseline's
MIB = 1024 * 1024


def summarise(
    runs: Sequence[Mapping[str, Any]], endpoint_names: Sequence[str], statements: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Per endpoint and server: median/min/max req/s, median p50/p99, error total, SQL/req, CPU/req, RSS."""
    summary: dict[str, Any] = {}
    for name in endpoint_names:
        entry: dict[str, Any] = {}
        for server in SERVERS:
            mine = [run for run in runs if run["endpoint"] == name and run["server"] == server]
            if not mine:
                continue
            rps = [run["rps"] for run in mine]
            entry[server] = {
                "runs": len(mine),
                "rps_median": statistics.median(rps),
                "rps_min": min(rps),
                "rps_max": max(rps),
                "p50_ms": statistics.median(run["p50_us"] for run in mine) / 1000,
                "p99_ms": statistics.median(run["p99_us"] for run in mine) / 1000,
                "errors": sum(run["errors"] for run in mine),
                "non2xx": sum(run["non2xx"] for run in mine),
                "requests": sum(run["requests"] for run in mine),
                "cpu_ms_per_request": statistics.median(run["cpu_ms_per_request"] for run in mine),
                "rss_mib_start": mine[0]["rss_start"] / MIB,
                "rss_mib_end": mine[-1]["rss_end"] / MIB,
                "sql_per_request": statements.get(server, {}).get(name),
            }
        if "plain" in entry and "baseline" in entry and entry["plain"]["requests"] and entry["baseline"]["requests"]:
            entry["plain_rps_ratio"] = entry["plain"]["rps_median"] / entry["baseline"]["rps_median"]
        if "service" in entry and "baseline" in entry:
            service, baseline = entry["service"], entry["baseline"]
            if not (service["requests"] and baseline["requests"]):
                summary[name] = entry  # nothing measured: no ratio to give
                continue
            rps_ratio = service["rps_median"] / baseline["rps_median"]
            p99_ratio = service["p99_ms"] / baseline["p99_ms"]
            entry["rps_ratio"] = rps_ratio
            entry["p99_ratio"] = p99_ratio
            entry["meets_target"] = rps_ratio >= TARGET_RPS_RATIO and p99_ratio <= TARGET_P99_RATIO
        summary[name] = entry
    return summary


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _verdict(entry: Mapping[str, Any]) -> str:
    if "rps_ratio" not in entry:
        return ""
    misses = []
    if entry["rps_ratio"] < TARGET_RPS_RATIO:
        misses.append(f"req/s < {TARGET_RPS_RATIO:.2f}x")
    if entry["p99_ratio"] > TARGET_P99_RATIO:
        misses.append(f"p99 > {TARGET_P99_RATIO:.2f}x")
    return "meets target" if not misses else "MISS: " + ", ".join(misses)


def render(summary: Mapping[str, Any], heading: Sequence[str]) -> str:
    """The tables as printed: one block per endpoint, then a one-line-per-endpoint summary."""
    lines = [*heading, ""]
    columns = (
        f"  {'server':<17}{'req/s median':>13} {'(min-max)':<19}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'SQL/req':>9}{'CPU ms/req':>12}  RSS MiB start->end"
    )
    for name, entry in summary.items():
        lines.append(name)
        lines.append(columns)
        for server in SERVERS:
            row = entry.get(server)
            if row is None:
                continue
            spread = f"({_number(row['rps_min'])}-{_number(row['rps_max'])})"
            sql = "?" if row["sql_per_request"] is None else str(row["sql_per_request"])
            lines.append(
                f"  {server:<17}{_number(row['rps_median']):>13} {spread:<19}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
                f"{row['errors']:>8}{sql:>9}{row['cpu_ms_per_request']:>12.2f}  "
                f"{row['rss_mib_start']:.1f} -> {row['rss_mib_end']:.1f}"
            )
        if "rps_ratio" in entry:
            lines.append(
                f"  {'service/baseline':<17}{entry['rps_ratio']:>12.2f}x {'':<19}{'':>9}{entry['p99_ratio']:>8.2f}x"
                f"  {_verdict(entry)}"
            )
        if "plain_rps_ratio" in entry:
            lines.append(f"  {'plain/baseline':<17}{entry['plain_rps_ratio']:>12.2f}x  (ORM_FAST_PATH=0)")
        lines.append("")
    lines.append(
        f"Summary (target: service req/s >= {TARGET_RPS_RATIO:.2f}x baseline and p99 <= {TARGET_P99_RATIO:.2f}x)"
    )
    lines.append(
        f"  {'endpoint':<24}{'service req/s':>14}{'baseline req/s':>15}{'ratio':>8}"
        f"{'svc p99 ms':>12}{'base p99 ms':>13}{'ratio':>8}{'SQL s/b':>9}  verdict"
    )
    for name, entry in summary.items():
        if "rps_ratio" not in entry:
            continue
        service, baseline = entry["service"], entry["baseline"]
        sql = f"{service['sql_per_request'] or '?'}/{baseline['sql_per_request'] or '?'}"
        lines.append(
            f"  {name:<24}{_number(service['rps_median']):>14}{_number(baseline['rps_median']):>15}"
            f"{entry['rps_ratio']:>7.2f}x{service['p99_ms']:>12.1f}{baseline['p99_ms']:>13.1f}"
            f"{entry['p99_ratio']:>7.2f}x{sql:>9}  {_verdict(entry)}"
        )
    plain = {name: entry["plain_rps_ratio"] for name, entry in summary.items() if "plain_rps_ratio" in entry}
    if plain:
        lines.append("With the fast path off (ORM_FAST_PATH=0), req/s against the baseline:")
        lines.extend(f"  {name:<24}{ratio:>7.2f}x" for name, ratio in plain.items())
    return "\n".join(lines)
