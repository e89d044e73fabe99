#!/usr/bin/env python3
"""wt benchmark driver (`make bench`).

Runs each section in SECTIONS and prints its table. Environment:
  WT_DELIVER     wt-deliver binary (default .build/release/wt-deliver)
  BENCH_ROUNDS   timed rounds per command (default 7); the median is reported
"""
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
MBOXES = ["mixed.mbox", "headers.mbox"]
GMIME = OUT / "gmime-parse"


def die(msg, code=1):
    sys.stdout.flush()
    print("bench: " + msg, file=sys.stderr)
    sys.exit(code)


def stale(target, *sources):
    return not target.exists() or any(s.stat().st_mtime > target.stat().st_mtime for s in sources)


def show(cmd, redirect=""):
    print("  $ " + shlex.join(str(c) for c in cmd) + redirect, flush=True)


def ensure_inputs():
    OUT.mkdir(parents=True, exist_ok=True)
    gen = BENCH / "gen_mbox.py"
    if any(stale(OUT / m, gen) for m in MBOXES):
        cmd = [sys.executable, gen, OUT]
        show(cmd)
        subprocess.run(cmd, check=True)
    src = BENCH / "gmime-parse.c"
    if stale(GMIME, src):
        try:
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", "gmime-3.0"],
                                   check=True, capture_output=True, text=True).stdout.split()
        except (OSError, subprocess.CalledProcessError):
            die("GMime 3 development files not found; run `make bench-deps`", 2)
        cmd = ["cc", "-O2", "-o", GMIME, src] + flags
        show(cmd)
        subprocess.run(cmd, check=True)


def timed(cmd, capture=False):
    """Wall time of one run; stdout goes to /dev/null unless captured."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if p.returncode != 0:
        die("command failed (exit %d): %s\n%s" % (p.returncode, shlex.join(map(str, cmd)),
                                                 p.stderr.strip()))
    return elapsed, (p.stdout or "").strip()


# ---- sections ---------------------------------------------------------

def parse_throughput(ctx):
    rounds = ctx["rounds"]
    print("Commands (stdout discarded), %d alternating rounds, median wall time:" % rounds)
    show([ctx["wt"], "--explain", "--mbox", "FILE"], " > /dev/null")
    show([GMIME, "FILE"])
    rows = []
    for name in MBOXES:
        path = OUT / name
        mb = path.stat().st_size / 1e6
        wt_cmd = [ctx["wt"], "--explain", "--mbox", path]
        gm_cmd = [GMIME, path]
        wt_t, gm_t = [], []
        for _ in range(rounds):  # alternate so drift in machine load hits both equally
            wt_t.append(timed(wt_cmd)[0])
            t, counts = timed(gm_cmd, capture=True)
            gm_t.append(t)
        wt_rate = mb / statistics.median(wt_t)
        gm_rate = mb / statistics.median(gm_t)
        rows.append((name, mb, wt_rate, gm_rate, wt_rate / gm_rate, counts))
    print()
    print("%-14s %8s %16s %12s %10s" % ("mbox", "size MB", "wt-deliver MB/s", "GMime MB/s",
                                        "wt/GMime"))
    for name, mb, wt_rate, gm_rate, ratio, _ in rows:
        print("%-14s %8.1f %16.1f %12.1f %10.2f" % (name, mb, wt_rate, gm_rate, ratio))
    print()
    for name, *_, counts in rows:
        print("gmime-parse %s: %s" % (name, counts))


SECTIONS = [
    ("parse throughput", parse_throughput),
]


def main():
    wt = Path(os.environ.get("WT_DELIVER") or ROOT / ".build/release/wt-deliver")
    if not (wt.is_file() and os.access(wt, os.X_OK)):
        die("wt-deliver binary not found or not executable: %s\n"
            "  build it first (`make build`) or point WT_DELIVER at it" % wt, 2)
    ctx = {"wt": wt.resolve(), "rounds": int(os.environ.get("BENCH_ROUNDS", "7"))}
    ensure_inputs()
    print("wt bench: %s, %d CPUs, load average %.2f" % (wt, os.cpu_count(), os.getloadavg()[0]))
    for title, run in SECTIONS:
        print("\n== %s ==" % title)
        run(ctx)


if __name__ == "__main__":
    main()
