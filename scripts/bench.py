#!/usr/bin/env python3
"""The Marketingforce SDK benchmark suite.

Builds every crate's benchmarks (release profile), runs each one for its printed figures, and
collects the machine-readable `JSON [...]` line every bench prints. Writes:

  <target>/bench-summary.json   every figure with its target, pass/miss, its same-run baseline
                                and the ratio to it, plus the machine it ran on
  <target>/bench-summary.md     the same as Markdown tables (targets first, then every figure)
  <target>/bench-logs/*.log     each bench's full output

`<target>` is cargo's target directory (`target/`, or `$CARGO_TARGET_DIR`).

The ratio is always "time per unit of work relative to the baseline measured in the same run":
1.00x means as fast as the baseline, 3.00x means three times the baseline's time.

PostgreSQL figures are measured when MARKETINGFORCE_TEST_POSTGRES_URL is set (a scratch
database: the benches create their own schemas `mf_bench` and `mf_ads_bench`).

Usage: scripts/bench.py [--only NAME[,NAME...]] [--wait-quiet SECONDS] [--with-criterion]
                        [--no-build]

  --only            run these benches only (storage, entitlements, metering, revenue, capture,
                    capture_path, allocation, funnel, ledger, settlement, content, sites,
                    events)
  --wait-quiet S    after building, wait up to S seconds for the 1-minute load average to
                    drop below 1.0
  --with-criterion  also run each bench's criterion samples (slower; figures are the same)
  --no-build        use the bench binaries built by a previous run

Exit status: 0 when every bench ran (a missed target is reported, not fatal), 1 otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEATURES = "marketingforce-core/sqlite,marketingforce-core/postgres"

# (bench target, package) in run order.
BENCHES = [
    ("storage", "marketingforce-core"),
    ("entitlements", "marketingforce-modules"),
    ("metering", "marketingforce-modules"),
    ("revenue", "marketingforce-modules"),
    ("capture", "marketingforce-crm"),
    ("capture_path", "marketingforce-crm"),
    ("allocation", "marketingforce-crm"),
    ("funnel", "marketingforce-crm"),
    ("ledger", "marketingforce-ads"),
    ("settlement", "marketingforce-ads"),
    ("content", "marketingforce-content"),
    ("sites", "marketingforce-sites"),
    ("events", "marketingforce-events"),
    ("instances", "marketingforce"),
]
# Package features a bench needs, added to the build when the bench is selected.
BENCH_FEATURES = {
    "events": "marketingforce-events/nats,marketingforce-events/webhooks",
    # Benches built on the test and demo helpers (synthetic data, fixtures).
    "storage": "marketingforce-core/testing",
    "capture": "marketingforce-crm/testing",
    "capture_path": "marketingforce-crm/testing",
    "allocation": "marketingforce-crm/testing",
    "funnel": "marketingforce-crm/testing",
    "ledger": "marketingforce-ads/testing",
    "settlement": "marketingforce-ads/testing",
    "content": "marketingforce-content/testing",
}

# The targets the domain issues set. `on` is "value" (the figure in its unit) or "ratio" (the
# time ratio to the same-run baseline). `op` is ">=" or "<=".
TARGETS = [
    # issue 2: storage
    dict(id="storage.memory.batch_1000", op=">=", value=1_000_000, on="value",
         goal="in-memory >= 1M record writes/s on one core"),
    dict(id="storage.sqlite.batch_1000", op=">=", value=50_000, on="value",
         goal="SQLite >= 50k durable record writes/s, batched"),
    dict(id="storage.postgres.batch_1000", op=">=", value=20_000, on="value",
         goal="PostgreSQL >= 20k writes/s, batched, over loopback"),
    # issue 3: modules
    dict(id="modules.entitlements.is_enabled", op=">=", value=10_000_000, on="value",
         goal="entitlement check >= 10M checks/s on one core"),
    dict(id="modules.entitlements.is_enabled", op="<=", value=3.0, on="ratio",
         goal="entitlement check <= 3x a bare HashMap lookup"),
    dict(id="modules.entitlements.seat_available", op=">=", value=10_000_000, on="value",
         goal="seat check >= 10M checks/s on one core"),
    dict(id="modules.entitlements.seat_available", op="<=", value=3.0, on="ratio",
         goal="seat check <= 3x a bare HashMap lookup"),
    dict(id="modules.metering.consume_memory", op=">=", value=2_000_000, on="value",
         goal="idempotent usage consume in memory >= 2M events/s on one core"),
    dict(id="modules.metering.durable_sqlite_full_group_commit", op=">=", value=100_000,
         on="value", goal="durable consume through SQLite, group commit >= 100k events/s"),
    dict(id="modules.revenue.schedules_and_waterfall_25k", op="<=", value=1_000, on="value",
         goal="revenue schedules for 25,000 yearly contracts well under 1 s"),
    # issue 4: CRM
    dict(id="crm.capture.dedupe_engine", op=">=", value=200_000, on="value",
         goal="capture + dedupe of 1M leads >= 200k leads/s on one core"),
    dict(id="crm.allocation.decide", op=">=", value=500_000, on="value",
         goal="allocation >= 500k leads/s"),
    dict(id="crm.funnel.report_1m", op="<=", value=1_000, on="value",
         goal="funnel over 1M leads < 1 s"),
    # issue 5: ads
    dict(id="ads.ledger.memory_batch_1000", op=">=", value=1_000_000, on="value",
         goal="ledger >= 1M two-leg transfers/s in memory on one core"),
    dict(id="ads.ledger.durable_sqlite_full_batch_1000", op=">=", value=100_000, on="value",
         goal="ledger >= 100k transfers/s durable through SQLite, batched"),
    dict(id="ads.settlement.customers_1000", op="<=", value=100, on="value",
         goal="settle a month, 1,000 customers x 3 platforms x 31 days < 100 ms"),
    # issue 6: content
    dict(id="content.compliance.scan", op=">=", value=200, on="value",
         goal="compliance scan >= 200 MB/s per core, >= 1,000 terms"),
    # issue 17: compliance by article
    dict(id="content.compliance.scan_vs_normalised", op="<=", value=1.5, on="ratio",
         goal="compliance scan <= 1.5x a bare Aho-Corasick DFA pass over the normalised text"),
    dict(id="content.compliance.eval_precision", op=">=", value=0.95, on="value",
         goal="compliance precision >= 0.95 on the labelled corpus"),
    dict(id="content.compliance.eval_recall", op=">=", value=0.95, on="value",
         goal="compliance recall >= 0.95 on the labelled corpus"),
    dict(id="content.text.offline_article", op=">=", value=10_000, on="value",
         goal="offline article generation >= 10,000 articles/s"),
    dict(id="content.image.poster_svg", op=">=", value=1_000, on="value",
         goal="poster SVG generation >= 1,000/s"),
    # issue 16: sites
    dict(id="sites.render.page", op=">=", value=5_000, on="value",
         goal="site pages rendered >= 5,000 pages/s per core"),
    dict(id="sites.beacons.memory", op=">=", value=200_000, on="value",
         goal="beacon events ingested in memory >= 200k/s"),
    dict(id="sites.beacons.sqlite", op=">=", value=50_000, on="value",
         goal="beacon events ingested durably on SQLite >= 50k/s"),
    # issue 14: domain events out
    # issue 13: the public capture path
    dict(id="crm.capture_path.capture_batch_memory", op=">=", value=100_000, on="value",
         goal="Crm::capture_batch in memory >= 100k leads/s"),
    dict(id="crm.capture_path.capture_batch_sqlite", op=">=", value=50_000, on="value",
         goal="Crm::capture_batch durable on SQLite >= 50k leads/s"),
    dict(id="events.nats.relay", op=">=", value=50_000, on="value",
         goal="relay to NATS JetStream >= 50k events/s"),
    dict(id="events.outbox.sqlite_batch_100", op="<=", value=1.3, on="ratio",
         goal="the outbox adds <= 1.3x to a SQLite batch commit"),
    dict(id="events.outbox.postgres_batch_100", op="<=", value=1.3, on="ratio",
         goal="the outbox adds <= 1.3x to a PostgreSQL batch commit"),
]

# Figures that are reported without a target (the issues ask for them to be shown).
REPORTED = [
    "crm.capture.precision",
    "crm.capture.recall",
    "crm.capture.engine_memory",
    "crm.capture_path.history",
    "crm.capture_path.history_indexing",
    "crm.capture_path.rebuild_memory",
    "crm.capture_path.rebuild_sqlite",
    "crm.capture_path.alternating_memory",
    "crm.capture_path.alternating_sqlite",
    "ads.ledger.durable_postgres_batch_1000",
    "ads.settlement.customers_100",
    "ads.settlement.customers_10000",
    "ads.settlement.customers_100000",
    "content.compliance.normalise",
    "sites.render.page_mobile",
    "content.compliance.eval_decisions",
    "content.compliance.holdout_precision",
    "content.compliance.holdout_recall",
    "content.compliance.holdout_decisions",
    "events.outbox.sqlite_commit_1",
    "events.outbox.postgres_commit_1",
    "events.nats.commit_to_ack",
    "events.webhook.relay",
]


def bench_of(figure_id: str) -> str:
    """The bench that reports a figure: `storage.*`, `content.*`, `sites.*`, else the id's second
    part."""
    parts = figure_id.split(".")
    return parts[0] if parts[0] in ("storage", "content", "sites", "events") else parts[1]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def machine() -> dict:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Processor", "cpu model"):
                cpu = value.strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        mem_gib = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    rustc = run(["rustc", "-V"]).stdout.strip()
    commit = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"]).stdout
    return {
        "cpu_model": cpu or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "memory_gib": mem_gib,
        "os": f"{platform.system()} {platform.release()}",
        "rustc": rustc,
        "commit": commit + ("-dirty" if dirty.strip() else ""),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "postgres": bool(os.environ.get("MARKETINGFORCE_TEST_POSTGRES_URL")),
    }


def wait_quiet(limit: float) -> None:
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] >= 1.0 and time.monotonic() < deadline:
        print(f"bench: waiting for a quiet machine (load {os.getloadavg()[0]:.2f})", flush=True)
        time.sleep(15)


def build(selected: list[tuple[str, str]]) -> dict[str, str]:
    """Build the bench binaries; returns bench name -> executable."""
    packages = sorted({pkg for _, pkg in selected})
    features = ",".join([FEATURES] + [BENCH_FEATURES[name] for name, _ in selected
                                      if name in BENCH_FEATURES])
    cmd = ["cargo", "bench", "--no-run", "--message-format=json-render-diagnostics",
           "--features", features]
    for pkg in packages:
        cmd += ["-p", pkg]
    for name, _ in selected:
        cmd += ["--bench", name]
    print("bench: building:", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit("bench: build failed")
    exes = {}
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        target = msg.get("target", {})
        if msg.get("reason") == "compiler-artifact" and "bench" in target.get("kind", []):
            if msg.get("executable"):
                exes[target["name"]] = msg["executable"]
    return exes


def parse_figures(output: str) -> list[dict]:
    figures = []
    for line in output.splitlines():
        if line.startswith("JSON "):
            figures.extend(json.loads(line[5:]))
    return figures


def ratio(fig: dict) -> float | None:
    """Time per unit of work relative to the same-run baseline."""
    value, base = fig.get("value"), fig.get("baseline_value")
    if not value or not base:
        return None
    if fig["unit"].endswith("/s"):
        return base / value
    return value / base


def check(target: dict, fig: dict | None) -> str:
    if fig is None:
        return "not run"
    actual = fig["value"] if target["on"] == "value" else fig.get("ratio")
    if actual is None:
        return "not run"
    ok = actual >= target["value"] if target["op"] == ">=" else actual <= target["value"]
    return "pass" if ok else "miss"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.4f}"
    if unit in ("ms", "MB/s") or abs(value) < 100:
        text = f"{value:,.1f}"
    else:
        text = f"{value:,.0f}"
    return f"{text} {unit}".strip()


def fmt_target(t: dict) -> str:
    if t["op"] == "report":
        return "reported"
    op = "≥" if t["op"] == ">=" else "≤"
    if t["on"] == "ratio":
        return f"{op} {t['value']:g}x baseline"
    unit = (t.get("figure") or {}).get("unit", "")
    return f"{op} {t['value']:,} {unit}".rstrip()


def markdown(summary: dict) -> str:
    m = summary["machine"]
    load = " ".join(f"{x:.2f}" for x in m["load_average_start"])
    lines = [
        "# Marketingforce SDK benchmarks",
        "",
        f"Run {summary['started']} on {m['cpu_model']}, {m['cores']} cores "
        f"({m['cores_usable']} usable), {m['memory_gib']} GiB, {m['os']}, {m['rustc']}, "
        f"commit {m['commit']}; load average at start {load}; "
        f"PostgreSQL {'measured' if m['postgres'] else 'not measured (no URL set)'}; "
        f"suite took {summary['seconds']:.0f} s.",
        "",
        "Ratio = time per unit of work relative to the baseline measured in the same run "
        "(1.00x = as fast as the baseline).",
        "",
    ]
    if m["load_average_start"][0] >= 1.0:
        lines += [
            f"**The machine was busy (1-minute load {m['load_average_start'][0]:.2f} at the "
            "start): absolute figures are lower than on a quiet machine; the ratios to the "
            "same-run baselines are steadier.**",
            "",
        ]
    lines += [
        "| goal | value | target | status | baseline (same run) | ratio |",
        "|---|---:|---|---|---|---:|",
    ]
    for row in summary["targets"]:
        fig = row["figure"] or {}
        lines.append(
            f"| {row['goal']} | {fmt(fig.get('value'), fig.get('unit', ''))} | "
            f"{fmt_target(row)} | {row['status']} | {fig.get('baseline') or '—'}: "
            f"{fmt(fig.get('baseline_value'), fig.get('unit', ''))} | "
            f"{'—' if fig.get('ratio') is None else format(fig['ratio'], '.2f') + 'x'} |"
        )
    lines += ["", "## Every figure", ""]
    for bench in summary["benches"]:
        status = "" if bench["ok"] else " — FAILED (see its log)"
        lines += [f"### {bench['name']} ({bench['package']}, {bench['seconds']:.0f} s){status}",
                  "", "| id | figure | value | ratio to baseline |", "|---|---|---:|---:|"]
        for fig in bench["figures"]:
            r = fig.get("ratio")
            lines.append(
                f"| `{fig['id']}` | {fig['label']} | {fmt(fig['value'], fig['unit'])} | "
                f"{'—' if r is None else format(r, '.2f') + 'x'} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> int:
    args = sys.argv[1:]
    selected = BENCHES
    if "--only" in args:
        names = set(args[args.index("--only") + 1].split(","))
        unknown = names - {n for n, _ in BENCHES}
        if unknown:
            raise SystemExit(f"bench: unknown bench {', '.join(sorted(unknown))}")
        selected = [b for b in BENCHES if b[0] in names]

    meta = json.loads(run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                          cwd=ROOT).stdout)
    target_dir = Path(meta["target_directory"])
    logs = target_dir / "bench-logs"
    logs.mkdir(parents=True, exist_ok=True)

    if "--no-build" in args:
        exes = {}
        for name, _ in selected:
            found = sorted((target_dir / "release" / "deps").glob(f"{name}-*"),
                           key=lambda p: p.stat().st_mtime)
            found = [p for p in found if os.access(p, os.X_OK) and p.suffix == ""]
            if found:
                exes[name] = str(found[-1])
    else:
        exes = build(selected)
    if "--wait-quiet" in args:  # after the build: the build itself loads the machine
        wait_quiet(float(args[args.index("--wait-quiet") + 1]))

    info = machine()
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    t_suite = time.monotonic()
    benches = []
    for name, pkg in selected:
        exe = exes.get(name)
        entry = {"name": name, "package": pkg, "ok": False, "seconds": 0.0, "figures": []}
        benches.append(entry)
        if not exe:
            print(f"bench: {name}: no executable", file=sys.stderr)
            continue
        cmd = [exe, "--bench"] + ([] if "--with-criterion" in args else ["--ignored"])
        print(f"bench: running {name} ({pkg}) ...", flush=True)
        t0 = time.monotonic()
        # The umbrella package lives at the workspace root.
        pkg_dir = ROOT if pkg == "marketingforce" else ROOT / pkg
        proc = subprocess.run(cmd, cwd=pkg_dir, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT,
                              env={**os.environ, "CARGO_MANIFEST_DIR": str(pkg_dir)})
        entry["seconds"] = round(time.monotonic() - t0, 1)
        (logs / f"{name}.log").write_text(proc.stdout)
        entry["ok"] = proc.returncode == 0
        try:
            entry["figures"] = parse_figures(proc.stdout)
        except json.JSONDecodeError as e:
            entry["ok"] = False
            print(f"bench: {name}: bad JSON line: {e}", file=sys.stderr)
        for fig in entry["figures"]:
            fig["ratio"] = ratio(fig)
        state = "ok" if entry["ok"] else f"FAILED (exit {proc.returncode})"
        print(f"bench: {name}: {state}, {len(entry['figures'])} figures, "
              f"{entry['seconds']:.0f} s; log {logs / (name + '.log')}", flush=True)

    by_id = {f["id"]: f for b in benches for f in b["figures"]}
    targets = []
    ran = {name for name, _ in selected}
    for t in TARGETS:
        if bench_of(t["id"]) not in ran:
            continue
        fig = by_id.get(t["id"])
        status = check(t, fig)
        if status == "not run" and ".postgres" in t["id"] and not info["postgres"]:
            status = "skipped (no PostgreSQL URL)"
        targets.append({**t, "status": status, "figure": fig})
    for fid in REPORTED:
        fig = by_id.get(fid)
        if fig is not None and not any(t["id"] == fid for t in TARGETS):
            goal = fig["label"]
            targets.append(dict(id=fid, op="report", value=None, on="value", goal=goal,
                                status="reported", figure=fig))
    summary = {
        "command": " ".join(["scripts/bench.py"] + args),
        "started": started.isoformat(),
        "seconds": round(time.monotonic() - t_suite, 1),
        "machine": {**info, "load_average_end": [round(x, 2) for x in os.getloadavg()]},
        "ratio": "time per unit of work relative to the same-run baseline",
        "targets": targets,
        "benches": benches,
    }
    (target_dir / "bench-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = markdown(summary)
    (target_dir / "bench-summary.md").write_text(md)
    print()
    print(md.split("## Every figure")[0].rstrip())
    print(f"\nbench: wrote {target_dir / 'bench-summary.json'} and {target_dir / 'bench-summary.md'}")
    missed = [t for t in targets if t["status"] == "miss"]
    if missed:
        print(f"bench: {len(missed)} target(s) missed: "
              + ", ".join(f"{t['id']} ({t['on']})" for t in missed))
    return 0 if all(b["ok"] for b in benches) else 1


if __name__ == "__main__":
    sys.exit(main())
