"""What the relay services and the drift check cost an idle service (issue 15): one `openmsk serve`
holding one default 3+3 cluster (namespace layout), measured in phases on the same cluster, the
service restarted between them (its nodes keep running):

  .venv/bin/python bench/relay_passes.py [--seconds 120] [--settle 30] [--phases polling,event]

polling: the relay services pass once a second (OPENMSK_RELAY_FALLBACK_INTERVAL=1, what they did
before they slept until a change); event: the default (a pass on a store write, a namespace made
ready, a due time, or every 15 s). Per phase: the service process's own CPU (utime + stime of the
`openmsk serve` process: control plane + telemetry, not the node JVMs) as % of one core over the
window, and from OPENMSK_DEBUG_PASS_CPU's log lines each relay service's passes and their median CPU,
and the drift checks'. Load averages are printed: at loads of other sessions' clusters the service
figure is noisy, the per-pass figures much less so.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness import Service, free_port  # noqa: E402
from idle_cost import create_idle_cluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PASS = re.compile(r"(public access relays|control plane channel relays|multi-VPC endpoints): pass \d+ took ([\d.]+) ms")
DRIFT = re.compile(r"drift check took ([\d.]+) ms")
MODES = {"polling": {"OPENMSK_RELAY_FALLBACK_INTERVAL": "1"}, "event": {}}


def own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK          # utime, stime (not the children's)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def phase(svc: Service, mode: str, settle: float, seconds: float) -> dict:
    svc.kill(signal.SIGTERM)
    svc.start(env={"OPENMSK_DEBUG_PASS_CPU": "1", **MODES[mode]})
    time.sleep(settle)
    start_load, offset = load(), svc.log_path.stat().st_size
    cpu0, t0 = own_cpu_seconds(svc.proc.pid), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    cpu = own_cpu_seconds(svc.proc.pid) - cpu0
    with open(svc.log_path, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    passes: dict[str, list[float]] = {}
    for name, ms in PASS.findall(text):
        passes.setdefault(name, []).append(float(ms))
    drift = [float(ms) for ms in DRIFT.findall(text)]
    return {"mode": mode, "window_s": round(elapsed, 1), "load": f"{start_load} -> {load()}",
            "service_cpu_pct": round(100 * cpu / elapsed, 3),
            "relays": {n: {"passes": len(v), "median_ms": round(statistics.median(v), 3),
                           "cpu_pct": round(100 * sum(v) / 1000 / elapsed, 4)} for n, v in sorted(passes.items())},
            "drift": {"checks": len(drift), "median_ms": round(statistics.median(drift), 3) if drift else None,
                      "cpu_pct": round(100 * sum(drift) / 1000 / elapsed, 4)}}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--settle", type=float, default=30)
    parser.add_argument("--phases", default="polling,event")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-relays-"))
    svc = Service(tmp / "data", free_port()).start()
    results = []
    try:
        create_idle_cluster(svc)
        network = json.loads((svc.data_dir / "network.json").read_text())
        if network.get("mode") != "namespaces":
            print(f"the namespace layout is off here ({network}); the relay services do not run")
            return 1
        for mode in args.phases.split(","):
            results.append(phase(svc, mode, args.settle, args.seconds))
            print(json.dumps(results[-1]), flush=True)
    finally:
        svc.stop_everything()
        shutil.rmtree(tmp, ignore_errors=True)
    base = next((r for r in results if r["mode"] == "polling"), None)
    for r in results:
        relays = sum(v["cpu_pct"] for v in r["relays"].values())
        each = ", ".join(f"{n}: {v['passes']} x {v['median_ms']} ms" for n, v in r["relays"].items())
        ratio = f", {r['service_cpu_pct'] / base['service_cpu_pct']:.2f}x polling" if base and base["service_cpu_pct"] else ""
        print(f"{r['mode']:8} service {r['service_cpu_pct']:.3f} % of a core{ratio}; relay passes "
              f"{relays:.4f} % ({each}); "
              f"drift checks {r['drift']['checks']} x {r['drift']['median_ms']} ms = {r['drift']['cpu_pct']:.4f} %; "
              f"load {r['load']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
