"""Reliability under faults: an idempotent acks=all producer and a verifying consumer run while a broker,
a ZooKeeper node and the control plane (mid-create and mid-roll) are SIGKILLed; prints one row per fault
with acknowledged messages lost, duplicates, the time until the cluster was ACTIVE with full ISR again,
and the longest produce stall.

  .venv/bin/python bench/reliability.py [--reps 3] [--budget-minutes 60] [--json FILE]
  .venv/bin/python bench/reliability.py --report FILE        # re-print the table of a saved run

One service of its own on a temporary data dir (removed at the end); the scenarios are those of
tests/reliability/scenarios.py. Every wait is bounded; the budget stops starting new scenarios.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "reliability"))

from harness import Service, free_port  # noqa: E402
from scenarios import RATE, Outcome, format_table, run_all  # noqa: E402


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def summary(outcomes: list[Outcome]) -> str:
    lines = []
    for name in dict.fromkeys(o.scenario for o in outcomes):
        rows = [o for o in outcomes if o.scenario == name]
        times = sorted(o.recovered_s for o in rows if o.recovered_s is not None)
        stalls = sorted(o.max_stall_s for o in rows if o.max_stall_s is not None)
        lines.append(f"{name}: {sum(o.ok for o in rows)}/{len(rows)} ok, lost {sum(o.lost for o in rows)}, "
                     f"duplicates {sum(o.duplicates for o in rows)}, recovered in "
                     f"{', '.join(f'{t:.1f}' for t in times) or '-'} s"
                     + (f", max stall {stalls[-1]:.1f} s" if stalls else ""))
    return "\n".join(lines)


def report(doc: dict) -> None:
    outcomes = [Outcome(**{k: v for k, v in o.items() if k != "ok"}) for o in doc["outcomes"]]
    print(f"reliability: {doc['reps']} repetition(s), producer {doc['rate']} msg/s, "
          f"load average {doc['load_start']} -> {doc['load_end']}, {doc['minutes']:.1f} min")
    print(format_table(outcomes))
    print(summary(outcomes))
    for o in outcomes:
        if o.detail:
            print(f"  {o.scenario} #{o.rep}: {o.detail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budget-minutes", type=float, default=60)
    parser.add_argument("--json", help="also write the results to FILE")
    parser.add_argument("--report", help="re-print the table of a saved --json FILE")
    parser.add_argument("--keep", action="store_true", help="keep the data dir (logs) for inspection")
    args = parser.parse_args()
    if args.report:
        report(json.loads(Path(args.report).read_text()))
        return 0
    os.chdir(REPO)
    workdir = Path(tempfile.mkdtemp(prefix="openmsk-reliability-"))
    svc = Service(workdir / "data", free_port()).start()
    load_start, t0 = load_average(), time.monotonic()
    outcomes: list[Outcome] = []
    try:
        outcomes = run_all(svc, workdir / "traffic", args.reps, budget_s=args.budget_minutes * 60,
                           log=lambda line: print(line, flush=True))
    finally:
        svc.stop_everything()
        doc = {"reps": args.reps, "rate": RATE, "load_start": load_start, "load_end": load_average(),
               "minutes": (time.monotonic() - t0) / 60, "outcomes": [o.as_dict() for o in outcomes]}
        if args.json:
            Path(args.json).write_text(json.dumps(doc, indent=1))
        if args.keep:
            print(f"data dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    report(doc)
    return 0 if outcomes and all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
