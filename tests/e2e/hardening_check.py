#!/usr/bin/env python3
"""Invariants of an amlspec workspace, for the hardening end-to-end tests.

    hardening_check.py wait-quiet WS SECONDS
        waits until no supervisor of WS is alive (its fcntl lock is free)
    hardening_check.py cache XDG_CACHE_HOME [--after-build]
        every published environment (envs/<hex>) is complete: env.json and
        bin/python; --after-build: no unfinished build is left beside them
    hardening_check.py check WS [--final ADDR...] [--runs-per-address N]
        state.json (when present) parses and has the state layout; every run
        folder holds a valid run.json; every run has ended; a run that
        executed is never forgotten: the state's last run of its address is
        that run or a newer one; a run's environment is a complete, published
        one. --final: each ADDR is in the state, and its last run Completed.
        --runs-per-address N: each ADDR has exactly N runs that executed.
        --unended-ok: a run may not have ended (its verdict could not be
        written, e.g. on a full disk)
Prints what is wrong and exits 1; prints a one-line summary otherwise.
"""
import fcntl
import json
import os
import struct
import sys
import time

TERMINAL = {"Completed", "Failed", "Canceled"}


def lock_held(path):
    """F_GETLK: whether some process holds a write lock on path (never takes it)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        req = struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0)
        res = fcntl.fcntl(fd, fcntl.F_GETLK, req)
        return struct.unpack("hhqqi4x", res)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


def run_dirs(ws):
    rd = os.path.join(ws, ".amlspec", "runs")
    if not os.path.isdir(rd):
        return []
    return [os.path.join(rd, n) for n in sorted(os.listdir(rd)) if not n.startswith(".")]


def wait_quiet(ws, seconds):
    end = time.time() + seconds
    while time.time() < end:
        busy = [d for d in run_dirs(ws) if lock_held(os.path.join(d, "supervisor.lock"))]
        if not busy:
            return 0
        time.sleep(0.05)
    print("still supervised:", busy, file=sys.stderr)
    return 1


def strict_json(path):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")  # amlspec writes UTF-8 only
    return json.loads(text)


def check_state_layout(st, what, errors):
    if not isinstance(st, dict):
        errors.append(f"{what}: top level is not an object")
        return False
    if not (isinstance(st.get("format_version"), int) and st["format_version"] >= 1):
        errors.append(f"{what}: bad format_version")
    if not (isinstance(st.get("lineage"), str) and st["lineage"]):
        errors.append(f"{what}: bad lineage")
    if not (isinstance(st.get("serial"), int) and st["serial"] >= 0):
        errors.append(f"{what}: bad serial")
    if not isinstance(st.get("specs"), dict):
        errors.append(f"{what}: specs is not an object")
        return False
    return True


def check(ws, final, per_address, unended_ok=False):
    errors = []
    sd = os.path.join(ws, ".amlspec")
    specs = {}
    sp = os.path.join(sd, "state.json")
    if os.path.exists(sp):
        try:
            st = strict_json(sp)
            if check_state_layout(st, "state.json", errors):
                specs = st["specs"]
        except Exception as e:  # noqa: BLE001
            errors.append(f"state.json does not parse: {e}")
    bp = os.path.join(sd, "state.json.backup")
    if os.path.exists(bp):
        try:
            check_state_layout(strict_json(bp), "state.json.backup", errors)
        except Exception as e:  # noqa: BLE001
            errors.append(f"state.json.backup does not parse: {e}")

    runs = {}
    for d in run_dirs(ws):
        rid = os.path.basename(d)
        p = os.path.join(d, "run.json")
        try:
            r = strict_json(p)
        except Exception as e:  # noqa: BLE001
            errors.append(f"run {rid}: run.json unreadable: {e}")
            continue
        if r.get("run_id") != rid:
            errors.append(f"run {rid}: run_id is {r.get('run_id')!r}")
        if r.get("status") not in TERMINAL and not unended_ok:
            errors.append(f"run {rid}: status {r.get('status')} after every supervisor ended")
        if r.get("status") == "Completed":
            if r.get("exit_code") != 0 or not r.get("started_at"):
                errors.append(f"run {rid}: Completed without exit code 0 and a start time")
            if r.get("error") or r.get("lost"):
                errors.append(f"run {rid}: Completed but also says {r.get('error')!r} (lost={r.get('lost')})")
        prefix = r.get("env_prefix")
        if prefix:
            if os.path.basename(prefix).startswith(".build-"):
                errors.append(f"run {rid}: uses an unpublished build {prefix}")
            elif r.get("started_at") and not os.path.isfile(os.path.join(prefix, "env.json")):
                errors.append(f"run {rid}: environment {prefix} is not complete (no env.json)")
        runs[rid] = r

    for rid, r in runs.items():
        if not r.get("started_at"):
            continue  # never executed: a failed start may be forgotten
        addr = r.get("address")
        entry = specs.get(addr)
        last = entry.get("last_run") if isinstance(entry, dict) else None
        if not last:
            errors.append(f"run {rid} of {addr} executed but the state has no run of {addr}")
            continue
        lr = runs.get(last)
        if lr is None:
            errors.append(f"state names run {last} for {addr}, which has no record")
        elif (lr.get("created_at") or "") < (r.get("created_at") or ""):
            errors.append(f"run {rid} of {addr} executed but the state still names the older {last}")
    for addr, entry in specs.items():
        last = entry.get("last_run") if isinstance(entry, dict) else None
        if last and last not in runs:
            errors.append(f"state names run {last} for {addr}, which has no record")

    for addr in final:
        entry = specs.get(addr)
        last = entry.get("last_run") if isinstance(entry, dict) else None
        if not last or last not in runs:
            errors.append(f"{addr}: no last run in the state")
        elif runs[last].get("status") != "Completed":
            errors.append(f"{addr}: last run {last} is {runs[last].get('status')}")
        if per_address is not None:
            n = sum(1 for r in runs.values() if r.get("address") == addr and r.get("started_at"))
            if n != per_address:
                errors.append(f"{addr}: {n} runs executed, expected {per_address}")

    if errors:
        for e in errors:
            print("invariant:", e, file=sys.stderr)
        return 1
    print(f"ok: {len(specs)} specs in state, {len(runs)} runs, "
          f"{sum(1 for r in runs.values() if r.get('started_at'))} executed")
    return 0


def check_cache(cache, after_build):
    root = os.path.join(cache, "amlspec", "envs")
    errors = []
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    published = [n for n in names if len(n) == 64 and all(c in "0123456789abcdef" for c in n)]
    targets = set()
    for n in published:
        p = os.path.join(root, n)
        if not os.path.isfile(os.path.join(p, "env.json")):
            errors.append(f"published environment {n} has no env.json (half-built)")
        if not os.access(os.path.join(p, "bin", "python"), os.X_OK):
            errors.append(f"published environment {n} has no bin/python")
        if os.path.islink(p):
            targets.add(os.readlink(p))
    if after_build:
        for n in names:
            if n.startswith(".build-") and n not in targets:
                errors.append(f"unfinished build {n} left after a successful build")
    if errors:
        for e in errors:
            print("invariant:", e, file=sys.stderr)
        return 1
    print(f"ok: {len(published)} published environments")
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "cache":
        return check_cache(argv[2], "--after-build" in argv[3:])
    if len(argv) >= 3 and argv[1] == "wait-quiet":
        return wait_quiet(argv[2], float(argv[3]) if len(argv) > 3 else 30)
    if len(argv) >= 3 and argv[1] == "check":
        ws = argv[2]
        final, per, unended_ok = [], None, False
        rest = argv[3:]
        i = 0
        while i < len(rest):
            if rest[i] == "--final":
                i += 1
                while i < len(rest) and not rest[i].startswith("--"):
                    final.append(rest[i])
                    i += 1
                continue
            if rest[i] == "--runs-per-address":
                per = int(rest[i + 1])
                i += 2
                continue
            if rest[i] == "--final-from-state":
                final = None
            if rest[i] == "--unended-ok":
                unended_ok = True
            i += 1
        if final is None:
            st = strict_json(os.path.join(ws, ".amlspec", "state.json"))
            final = list(st["specs"])
        return check(ws, final, per, unended_ok)
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
