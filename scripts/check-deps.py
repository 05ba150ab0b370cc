#!/usr/bin/env python3
"""Offline dependency policy check for the Marketingforce SDK workspace.

Reads `cargo metadata` (resolved from the lockfile, every target platform; cargo fetches the
manifests it has not cached from the registry) and fails when:

  * a package in the resolved graph has a licence expression the allow-list cannot satisfy
    (or no licence at all);
  * a package declares a `rust-version` newer than the workspace MSRV
    (`[workspace.package] rust-version` in the root `Cargo.toml`);
  * a workspace crate depends on anything with a wildcard version requirement (`*`, `1.*`),
    path dependencies included (publishable crates need a version).

It also reports, without failing, crates resolved in more than one version.

Usage: scripts/check-deps.py [--locked] [--verbose] [--metadata FILE]
(`--metadata FILE` reads saved `cargo metadata --format-version 1` output instead of running cargo.)
Exit status: 0 when the policy holds, 1 on a violation, 2 when `cargo metadata` fails.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# Licences whose terms allow use in a permissively licensed (MIT OR Apache-2.0) SDK.
ALLOWED_LICENSES = {
    "MIT",
    "MIT-0",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "BSL-1.0",
    "CC0-1.0",
    "0BSD",
    "Unlicense",
    "MPL-2.0",
}
# `X WITH exception` is allowed when X is allowed and the exception only widens permissions.
ALLOWED_EXCEPTIONS = {"LLVM-exception"}

# Packages whose metadata carries no SPDX expression but whose licence was reviewed by hand:
# name -> the licence found in its licence file. Keep this empty unless a reviewed case arises.
REVIEWED_LICENSE_FILES: dict[str, str] = {}


class LicenseError(ValueError):
    pass


def tokenize(expr: str) -> list[str]:
    # Old crates.io style "MIT/Apache-2.0" means "MIT OR Apache-2.0".
    expr = re.sub(r"\s*/\s*", " OR ", expr.strip())
    return re.findall(r"\(|\)|[^\s()]+", expr)


def satisfiable(expr: str) -> bool:
    """Whether the SPDX expression can be satisfied using only allowed licences."""
    tokens = tokenize(expr)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise LicenseError(f"unexpected end of licence expression {expr!r}")
        pos += 1
        return tokens[pos - 1]

    def primary() -> bool:
        tok = take()
        if tok == "(":
            value = disjunction()
            if take() != ")":
                raise LicenseError(f"unbalanced parentheses in {expr!r}")
            return value
        if tok in ("AND", "OR", "WITH", ")"):
            raise LicenseError(f"unexpected {tok!r} in licence expression {expr!r}")
        ident = tok.rstrip("+")
        if peek() == "WITH":
            take()
            exception = take()
            return ident in ALLOWED_LICENSES and exception in ALLOWED_EXCEPTIONS
        return ident in ALLOWED_LICENSES

    def conjunction() -> bool:
        value = primary()
        while peek() == "AND":
            take()
            value = primary() and value
        return value

    def disjunction() -> bool:
        value = conjunction()
        while peek() == "OR":
            take()
            value = conjunction() or value
        return value

    result = disjunction()
    if pos != len(tokens):
        raise LicenseError(f"trailing tokens in licence expression {expr!r}")
    return result


def version_tuple(v: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", v)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def workspace_msrv(root: Path) -> str:
    text = (root / "Cargo.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[workspace\.package\]\s*$(.*?)(?=^\[)", text, re.M | re.S)
    if section:
        m = re.search(r'^rust-version\s*=\s*"([^"]+)"', section.group(1), re.M)
        if m:
            return m.group(1)
    raise SystemExit("check-deps: no [workspace.package] rust-version in Cargo.toml")


def main() -> int:
    args = sys.argv[1:]
    verbose = "--verbose" in args
    cmd = ["cargo", "metadata", "--format-version", "1", "--all-features"]
    if "--locked" in args:
        cmd.append("--locked")
    try:
        if "--metadata" in args:
            meta = json.loads(Path(args[args.index("--metadata") + 1]).read_text(encoding="utf-8"))
        else:
            meta = json.loads(
                subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            )
    except subprocess.CalledProcessError as e:
        sys.stderr.write(e.stderr)
        print(f"check-deps: `{' '.join(cmd)}` failed", file=sys.stderr)
        return 2

    root = Path(meta["workspace_root"])
    msrv = workspace_msrv(root)
    packages = {p["id"]: p for p in meta["packages"]}
    members = set(meta["workspace_members"])

    # What ships: reachable from the members through normal or build edges; the rest is dev-only.
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    shipped: set[str] = set()
    stack = list(members)
    while stack:
        pid = stack.pop()
        if pid in shipped:
            continue
        shipped.add(pid)
        for dep in nodes[pid]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if kinds - {"dev"}:
                stack.append(dep["pkg"])
    resolved = set(nodes)

    problems: list[str] = []
    licences: dict[str, list[str]] = defaultdict(list)
    for pid in sorted(resolved, key=lambda i: (packages[i]["name"], packages[i]["version"])):
        p = packages[pid]
        label = f"{p['name']} {p['version']}" + ("" if pid in shipped else " (dev-only)")
        lic = p.get("license")
        if pid not in members:
            if not lic:
                lic = REVIEWED_LICENSE_FILES.get(p["name"])
            if not lic:
                problems.append(f"licence: {label} declares no SPDX licence expression")
            else:
                try:
                    if not satisfiable(lic):
                        problems.append(f"licence: {label} is {lic!r}, outside the allow-list")
                except LicenseError as e:
                    problems.append(f"licence: {label}: {e}")
            licences[lic or "<none>"].append(label)
        rv = p.get("rust_version")
        if rv and version_tuple(rv) > version_tuple(msrv):
            problems.append(
                f"rust-version: {label} needs Rust {rv}, above the workspace MSRV {msrv}"
            )

    for pid in sorted(members):
        p = packages[pid]
        for d in p["dependencies"]:
            req = d.get("req") or ""
            if "*" in req:
                kind = d.get("kind") or "normal"
                problems.append(
                    f"wildcard: {p['name']} has {kind} dependency {d['name']} = {req!r}"
                    " (give it a version)"
                )

    versions: dict[str, set[str]] = defaultdict(set)
    for pid in resolved:
        versions[packages[pid]["name"]].add(packages[pid]["version"])
    duplicates = {n: sorted(v, key=version_tuple) for n, v in versions.items() if len(v) > 1}

    dev_only = len(resolved - shipped)
    print(
        f"check-deps: {len(resolved)} resolved packages ({len(shipped) - len(members)} shipped,"
        f" {dev_only} dev-only), {len(members)} workspace crates, MSRV {msrv}"
    )
    if verbose:
        for lic, pkgs in sorted(licences.items(), key=lambda kv: -len(kv[1])):
            print(f"  {len(pkgs):4}  {lic}")
    if duplicates:
        listed = ", ".join(f"{n} ({' '.join(v)})" for n, v in sorted(duplicates.items()))
        print(f"check-deps: note: {len(duplicates)} crates resolve to several versions: {listed}")
    if problems:
        for line in problems:
            print(f"check-deps: FAIL {line}", file=sys.stderr)
        print(f"check-deps: {len(problems)} policy violation(s)", file=sys.stderr)
        return 1
    print("check-deps: ok (licences allowed, rust-version within MSRV, no wildcard requirements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
