"""`openmsk versions`: the Kafka versions openmsk runs, and fetching their jars ahead of first use.

    openmsk versions                  # table: MSK version, Apache release, ZooKeeper, mode, cached?
    openmsk versions install 4.1.x.kraft   # fetch that line's pinned jars from Maven Central (progress shown)
    openmsk versions install --all

A cluster of a version whose jars are not cached fetches them itself when it is created; installing
first only saves that wait. A version that cannot be fetched is reported (exit 1), never faked.
"""
from __future__ import annotations

import sys

from ..runtime import versions
from ..runtime.distribution import DistributionMissing
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def cmd_versions(args) -> int:
    if args.action is None:
        print(f"{'MSK version':<14} {'Apache Kafka':<13} {'ZooKeeper':<10} {'mode':<10} cached")
        for line in versions.LINES:
            default = " (default)" if line.msk_version == versions.DEFAULT_VERSION else ""
            print(f"{line.msk_version:<14} {line.kafka:<13} {line.zookeeper or '-':<10} "
                  f"{'KRaft' if line.kraft else 'ZooKeeper':<10} {'yes' if versions.installed(line.msk_version) else 'no'}"
                  f"{default}")
        return EXIT_OK
    wanted = [l.msk_version for l in versions.LINES] if args.all else args.version
    if not wanted:
        print("openmsk versions install: name a version (see `openmsk versions`) or --all", file=sys.stderr)
        return EXIT_USAGE
    failed = 0
    for msk_version in wanted:
        if msk_version not in versions.BY_VERSION:
            print(f"openmsk versions install: unknown Kafka version {msk_version}; supported: "
                  f"{', '.join(versions.sorted_versions())}", file=sys.stderr)
            return EXIT_USAGE
        line = versions.line(msk_version)
        if versions.installed(msk_version):
            print(f"{msk_version}: Apache Kafka {line.kafka} already cached in {versions.locate(msk_version).lib_dir}")
            continue
        print(f"{msk_version}: fetching Apache Kafka {line.kafka} from Maven Central ...", flush=True)
        try:
            dist = versions.install_line(msk_version, progress=lambda text: print(f"  {text.split('] ', 1)[-1]}",
                                                                                  flush=True))
        except DistributionMissing as exc:
            print(f"{msk_version}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{msk_version}: cached in {dist.lib_dir}")
    return EXIT_FAILED if failed else EXIT_OK


def register(add) -> None:
    p = add("versions", cmd_versions, "list the Kafka versions openmsk runs; `install VERSION` fetches a version's jars")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    inst = sub.add_parser("install", help="fetch the pinned jars of Kafka versions from Maven Central")
    inst.add_argument("version", nargs="*", help="MSK version string, e.g. 3.8.x or 4.1.x.kraft")
    inst.add_argument("--all", action="store_true", help="every supported version")
