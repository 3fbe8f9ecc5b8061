"""What a broker instance type means for the broker process: JVM heap and the broker settings that
scale with the machine (the table in docs/operations.md is generated from this one).

vCPUs and memory are the real instance's (AWS's published sizes). MSK does not publish its heaps or
thread counts per size; openmsk's follow the machine: network/IO threads grow with vCPUs, the heap
with memory, but the heaps are scaled down so that several clusters fit on a laptop (a real
kafka.m5.large has 8 GiB of memory; its openmsk broker gets a 768 MiB heap). They keep the order of
the real sizes, so a broker type change is a real change of the JVM and its thread pools, rolled one
broker at a time. kafka.m5.large (and m7g.large) is exactly what every broker ran before this table
existed: MSK's default configuration (num.network.threads 5, num.io.threads 8).
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SOCKET_REQUEST_MAX_BYTES = "104857600"   # MSK's default (100 MiB) on every size


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_gib: int
    heap_mib: int                 # -Xmx (scaled down; see the module doc)
    network_threads: int          # num.network.threads
    io_threads: int               # num.io.threads
    replica_fetchers: int         # num.replica.fetchers

    def heap(self) -> list[str]:
        return ["-Xms256m", f"-Xmx{self.heap_mib}m"]

    @property
    def dedupe_buffer_bytes(self) -> int:
        """log.cleaner.dedupe.buffer.size: 1/32 of the heap. Kafka's default (128 MiB) is sized for
        production heaps of several GiB; the log cleaner allocates it on the heap at start and zeroes
        it, so in a 768 MiB laptop heap it was 128 MiB resident in every idle broker. At 1/32 the map
        holds ~1 M keys per cleaning pass (m5.large); a bigger compacted log is cleaned in more passes."""
        return self.heap_mib * 1024 * 1024 // 32

    def broker_properties(self) -> dict[str, str]:
        return {"num.network.threads": str(self.network_threads), "num.io.threads": str(self.io_threads),
                "num.replica.fetchers": str(self.replica_fetchers),
                "socket.request.max.bytes": DEFAULT_SOCKET_REQUEST_MAX_BYTES,
                "log.cleaner.dedupe.buffer.size": str(self.dedupe_buffer_bytes)}


#           size        vCPU  GiB   heap MiB  net  io  fetchers
_SIZES = [("large",        2,    8,    768,    5,   8,  2),
          ("xlarge",       4,   16,   1024,    6,  12,  2),
          ("2xlarge",      8,   32,   1280,    8,  16,  3),
          ("4xlarge",     16,   64,   1536,   12,  24,  4),
          ("8xlarge",     32,  128,   1792,   16,  32,  4),
          ("12xlarge",    48,  192,   2048,   20,  40,  6),
          ("16xlarge",    64,  256,   2304,   24,  48,  6),
          ("24xlarge",    96,  384,   2560,   32,  64,  8)]

INSTANCE_TYPES: dict[str, InstanceType] = {"kafka.t3.small": InstanceType("kafka.t3.small", 2, 2, 384, 3, 4, 1)}
for _family, _sizes in (("m5", _SIZES), ("m7g", _SIZES[:-1])):       # no m7g.24xlarge
    for _size, _cpu, _mem, _heap, _net, _io, _fetch in _sizes:
        _name = f"kafka.{_family}.{_size}"
        INSTANCE_TYPES[_name] = InstanceType(_name, _cpu, _mem, _heap, _net, _io, _fetch)

DEFAULT = INSTANCE_TYPES["kafka.m5.large"]


def instance_type(name: str) -> InstanceType:
    """The table's entry (kafka.m5.large for a name it does not know: what brokers ran before types mattered)."""
    return INSTANCE_TYPES.get(name, DEFAULT)
