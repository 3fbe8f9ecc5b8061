"""Each topic's effective `min.insync.replicas` (its own override, else the broker default), read with
Kafka's DescribeConfigs, for the roller's availability rule.

Like the SCRAM sync (scram.py), the AdminClient runs in a short-lived child process
(`python -m openmsk.control.topic_configs`, the librdkafka config on stdin, a JSON object
`{topic: min_isr}` on stdout): librdkafka may abort() its host while brokers restart under it, and
the control plane must not be that host.
"""
from __future__ import annotations

import asyncio
import json
import sys

TIMEOUT = 60.0


def _describe(config: dict) -> dict[str, int]:
    from confluent_kafka.admin import AdminClient, ConfigResource
    admin = AdminClient(config)
    topics = [t for t in admin.list_topics(timeout=20).topics if not t.startswith("__")]
    if not topics:
        return {}
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
    result = {}
    for resource, future in admin.describe_configs(resources, request_timeout=20).items():
        entries = future.result(30)
        entry = entries.get("min.insync.replicas")
        if entry is not None and entry.value is not None:
            result[resource.name] = int(entry.value)
    return result


async def min_insync_replicas(config: dict) -> dict[str, int]:
    """topic -> effective min.insync.replicas; raises RuntimeError if the brokers could not tell."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "openmsk.control.topic_configs",
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(config).encode()), TIMEOUT)
    except asyncio.TimeoutError:
        raise RuntimeError(f"DescribeConfigs did not answer within {TIMEOUT:.0f}s")
    finally:
        if proc.returncode is None:     # timed out, or the reconcile was cancelled: leave nothing behind
            proc.kill()
            await asyncio.shield(proc.wait())
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit code {proc.returncode}")
    return {k: int(v) for k, v in json.loads(out).items()}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(_describe(json.loads(sys.stdin.read()))))
