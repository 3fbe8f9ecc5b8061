"""Control API throughput, open loop (issue 15): SigV4-signed DescribeCluster at a fixed rate, and
ListClusters with many clusters in the store. Latency is taken from each request's *scheduled* send
time, so a server that falls behind pays for its queue (no coordinated omission).

  .venv/bin/python bench/api_throughput.py [--rate 1000] [--seconds 10] [--clusters 500]

The service runs with OPENMSK_PLACEMENT=none (clusters are documents only; no JVM starts), so the
figures are the API path's own: SigV4 verification, botocore parsing/serialising, the store, IAM.
Requests are signed before the timed phase (a client signing 1,000/s would measure itself) and
sent over 32 keep-alive connections with a minimal HTTP/1.1 client. Baseline, in the same run and
the same way: the unsigned `GET /_openmsk/health` at the same rate.
Targets: DescribeCluster p99 <= 10 ms at 1,000/s; ListClusters (500 clusters) p99 <= 20 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.credentials  # noqa: E402

from harness import Service, free_port  # noqa: E402

CONNECTIONS = 32


def signed(svc: Service, path: str, service: str = "kafka") -> bytes:
    creds = svc.credentials
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(creds["access_key_id"],
                                                                      creds["secret_access_key"]),
                                     service, svc.region)
    url = svc.endpoint + path
    req = botocore.awsrequest.AWSRequest(method="GET", url=url)
    signer.add_auth(req)
    host = urlsplit(url).netloc
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in req.headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def unsigned(svc: Service, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {urlsplit(svc.endpoint).netloc}\r\n\r\n".encode()


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def open_loop(port: int, requests: list[bytes], rate: float) -> tuple[list[float], int]:
    """Send requests[i] at start + i/rate on the first idle connection; latency from that time."""
    idle: asyncio.Queue = asyncio.Queue()
    conns = []
    for _ in range(CONNECTIONS):
        conn = await asyncio.open_connection("127.0.0.1", port)
        conns.append(conn)
        idle.put_nowait(conn)
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float, raw: bytes) -> None:
        nonlocal errors
        reader, writer = await idle.get()
        try:
            writer.write(raw)
            status = await _read_response(reader)
            if status != 200:
                errors += 1
        finally:
            idle.put_nowait((reader, writer))
        latencies.append((time.perf_counter() - scheduled) * 1000)

    tasks = []
    start = time.perf_counter() + 0.2
    for i, raw in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, raw)))
    await asyncio.gather(*tasks)
    for _, writer in conns:
        writer.close()
    return latencies, errors


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(lat: list[float]) -> dict:
    return {"n": len(lat), "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
            "max_ms": round(max(lat), 2)}


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase(svc: Service, name: str, requests: list[bytes], rate: float) -> dict:
    cpu0, t0 = server_cpu(svc.proc.pid), time.monotonic()
    lat, errors = asyncio.run(open_loop(svc.port, requests, rate))
    result = {**summary(lat), "errors": errors, "rate": rate,
              "server_cpu_ms_per_request": round((server_cpu(svc.proc.pid) - cpu0) * 1000 / len(requests), 3),
              "load": Path("/proc/loadavg").read_text().split(" ")[0]}
    print(f"{name:<34} {json.dumps(result)}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clusters", type=int, default=500)
    parser.add_argument("--list-rate", type=float, default=20)
    parser.add_argument("--list-seconds", type=float, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="openmsk-api-bench-"))
    svc = Service(tmp / "data", free_port()).start(env={"OPENMSK_PLACEMENT": "none", "OPENMSK_STRICT_OUTPUT": "0"})
    results = {"uptime_before": os.popen("uptime").read().strip()}
    try:
        kafka = svc.client("kafka")
        subnets = svc.default_subnets(3)
        arns = []
        t0 = time.monotonic()
        for i in range(args.clusters):
            arns.append(kafka.create_cluster(ClusterName=f"c{i}", KafkaVersion="3.9.x", NumberOfBrokerNodes=3,
                                             BrokerNodeGroupInfo={"InstanceType": "kafka.m5.large",
                                                                  "ClientSubnets": subnets})["ClusterArn"])
        print(f"{args.clusters} clusters created in {time.monotonic() - t0:.1f}s", flush=True)
        n = int(args.rate * args.seconds)
        describe = [signed(svc, "/v1/clusters/" + quote(arns[i % len(arns)], safe="")) for i in range(n)]
        health = [unsigned(svc, "/_openmsk/health")] * n
        warm = describe[: min(n, 500)]
        phase(svc, "warm-up (DescribeCluster)", warm, args.rate)
        # Interleaved A-B-A-B: baseline and measured phases see the same machine load.
        rounds = {"health": [], "describe": []}
        for _ in range(2):
            rounds["health"].append(phase(svc, f"health @ {args.rate:.0f}/s (baseline)", health, args.rate))
            rounds["describe"].append(phase(svc, f"DescribeCluster @ {args.rate:.0f}/s", describe, args.rate))
        m = int(args.list_rate * args.list_seconds)
        listing = [signed(svc, "/v1/clusters?maxResults=100") for _ in range(m)]
        list_all = [signed(svc, "/v1/clusters") for _ in range(m)]
        rounds["list100"] = [phase(svc, f"ListClusters maxResults=100 @ {args.list_rate:.0f}/s", listing, args.list_rate)]
        rounds["list_all"] = [phase(svc, f"ListClusters all {args.clusters} @ {args.list_rate:.0f}/s", list_all,
                                    args.list_rate)]
        results.update(rounds)
        results["uptime_after"] = os.popen("uptime").read().strip()
    finally:
        svc.stop_everything()
        shutil.rmtree(tmp, ignore_errors=True)

    d99 = statistics.median(r["p99_ms"] for r in rounds["describe"])
    h99 = statistics.median(r["p99_ms"] for r in rounds["health"])
    l99 = rounds["list_all"][0]["p99_ms"]
    print(f"\nload: {results['uptime_before']} -> {results['uptime_after']}")
    print(f"DescribeCluster p99 @ {args.rate:.0f}/s: {d99:.1f} ms (target <= 10: {'ok' if d99 <= 10 else 'MISSED'}); "
          f"baseline health p99 {h99:.1f} ms -> ratio {d99 / max(h99, 0.01):.2f}")
    print(f"ListClusters ({args.clusters} clusters, default page) p99: {l99:.1f} ms "
          f"(target <= 20: {'ok' if l99 <= 20 else 'MISSED'})")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "api_throughput.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
