"""Where the Kafka/ZooKeeper jars live and how to run a JVM from them.

The jars are never in git: `scripts/install` runs Maven on the repository's `pom.xml`, which copies the
pinned dependency set into a cache outside the tree (`$OPENMSK_CACHE`, default `~/.cache/openmsk`).
This module only locates that set and builds `java` command lines the way `kafka-run-class.sh` does
(see shared/reference/kafka-runtime.md §1.3), so brokers, ZooKeeper and the Kafka tools all share it.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "pom.xml"


def cache_dir() -> Path:
    base = os.environ.get("OPENMSK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "openmsk")
    return Path(base)


def pinned_kafka_version() -> str:
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not match:
        raise RuntimeError(f"{POM} does not pin <kafka.version>")
    return match.group(1)


class DistributionMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class KafkaDistribution:
    """One resolved jar set (`lib/kafka-<version>/*.jar`)."""

    version: str
    lib_dir: Path

    @classmethod
    def locate(cls, version: str | None = None) -> "KafkaDistribution":
        version = version or pinned_kafka_version()
        lib_dir = cache_dir() / "lib" / f"kafka-{version}"
        if not (lib_dir / f"kafka_2.13-{version}.jar").exists():
            raise DistributionMissing(
                f"Kafka {version} jars not found in {lib_dir}; run scripts/install (it runs Maven on pom.xml)")
        return cls(version, lib_dir)

    @property
    def log4j2(self) -> bool:
        """Kafka 4 logs through log4j2 (its own distribution ships log4j2.yaml); 3.x through reload4j."""
        return int(self.version.split(".")[0]) >= 4

    @property
    def classpath(self) -> str:
        # kafka-run-class.sh puts every jar of libs/ on the classpath; a wildcard keeps the command short.
        # openmsk's own broker plugins (the MSK IAM listener/authorizer) come after Kafka's jars: the build of
        # this checkout's plugin sources (msk_iam_plugin_dir(): one directory per source content hash), the
        # build against Kafka 4.1 for 4.1 and later (msk_iam_plugin_jar_dir()).
        return f"{self.lib_dir / '*'}{os.pathsep}{msk_iam_plugin_jar_dir(self.version) / '*'}"

    @staticmethod
    def java() -> str:
        home = os.environ.get("JAVA_HOME")
        if home and (Path(home) / "bin" / "java").exists():
            return str(Path(home) / "bin" / "java")
        found = shutil.which("java")
        if not found:
            raise DistributionMissing("no `java` on PATH; install OpenJDK 17")
        return found

    def java_command(self, main_class: str, args: list[str], *, heap: list[str], jvm_opts: list[str],
                     log4j_config: Path | None, logs_dir: Path | None) -> list[str]:
        cmd = [self.java(), *heap, *jvm_opts]
        if logs_dir is not None:
            cmd.append(f"-Dkafka.logs.dir={logs_dir}")
        if log4j_config is not None:
            cmd.append(f"-Dlog4j2.configurationFile={log4j_config}" if self.log4j2
                       else f"-Dlog4j.configuration=file:{log4j_config}")
        classpath, main_class, args = self.classpath, *classpath_agent(self.version, cmd, main_class, args)
        if main_class == CLASSPATH_AGENT_MAIN:
            classpath += os.pathsep + args[0].split("=", 1)[0]
        cmd += ["-cp", classpath, main_class, *args]
        return cmd


def install(version: str | None = None, *, pom: Path | None = None, properties: dict[str, str] | None = None,
            progress=None) -> KafkaDistribution:
    """Resolve a pinned jar set with Maven (idempotent). Without arguments: pom.xml's own pins (used by
    scripts/install); runtime/versions.py passes each line's pom and versions. `progress(line)` gets
    Maven's download lines; a failed fetch raises DistributionMissing with Maven's error, and leaves
    no partial jar set behind."""
    version = version or pinned_kafka_version()
    try:
        return KafkaDistribution.locate(version)
    except DistributionMissing:
        pass
    out = cache_dir() / "lib" / f"kafka-{version}"
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True, exist_ok=True)
    props = {"kafka.version": version, **(properties or {})}
    cmd = ["mvn", "-B", "-f", str(pom or POM), "dependency:copy-dependencies",
           f"-DoutputDirectory={partial}", "-DincludeScope=runtime", *[f"-D{k}={v}" for k, v in props.items()]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        if progress is not None and ("Downloaded from" in line or "Copying" in line):
            progress(line)
    if proc.wait() != 0:
        shutil.rmtree(partial, ignore_errors=True)
        errors = [l for l in tail if l.startswith("[ERROR]")]
        raise DistributionMissing(f"Kafka {version} jars could not be fetched from Maven Central: "
                                  + (errors[0] if errors else f"mvn exited with {proc.returncode}"))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return KafkaDistribution.locate(version)


# openmsk's broker plugin (plugins/msk-iam, JVM code only where Kafka needs it: MSK IAM access control)
# and AWS's client library for the Kafka tools (aws-msk-iam-auth), both built/fetched with Maven.
PLUGIN_SOURCES = REPO_ROOT / "plugins" / "msk-iam"
IAM_CLIENT_POM = REPO_ROOT / "plugins" / "msk-iam-client" / "pom.xml"


def plugins_dir() -> Path:
    return cache_dir() / "plugins"


_plugin_digests: dict[tuple, str] = {}      # (sources, their names/sizes/mtimes) -> digest


def msk_iam_plugin_digest() -> str:
    """A content hash of plugins/msk-iam's sources (pom.xml and src/, Maven's target/ excluded): 16 hex digits.
    Every node spec asks for it (the supervisor's drift check renders them every 10 s), so the files are
    read and hashed again only when one's name, size or modification time changed."""
    paths, signature = [], []
    for root, dirs, names in os.walk(PLUGIN_SOURCES):
        dirs[:] = [d for d in dirs if d != "target"]
        for name in names:
            path = Path(root) / name
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if name != "target" and stat.S_ISREG(st.st_mode):
                paths.append(path)
                signature.append((str(path), st.st_size, st.st_mtime_ns))
    key = (str(PLUGIN_SOURCES), tuple(sorted(signature)))
    if key not in _plugin_digests:
        digest = hashlib.sha256()
        for path in sorted(paths):
            digest.update(path.relative_to(PLUGIN_SOURCES).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        _plugin_digests.clear()
        _plugin_digests[key] = digest.hexdigest()[:16]
    return _plugin_digests[key]


def msk_iam_plugin_dir() -> Path:
    """Where this checkout's plugin jar lives: `plugins/msk-iam-<content hash>/`. Worktrees (or installations)
    with different plugin sources share the cache without clobbering each other's jar, and a broker's classpath
    names the directory of the sources its openmsk was started from."""
    return plugins_dir() / f"msk-iam-{msk_iam_plugin_digest()}"


#: The first Kafka release whose StandardAuthorizer is a Monitorable plugin (KIP-877): from it on, nodes run
#: the plugin built against Kafka 4.1 (the pom's kafka41 profile), which has MonitorableIamKRaftAuthorizer.
MONITORABLE_AUTHORIZER_SINCE = (4, 1)
KAFKA41_BUILD = "kafka-4.1"


def _release(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def monitorable_authorizer(kafka_version: str) -> bool:
    """Does this Apache Kafka release (e.g. "4.1.2") hand its authorizer plugin metrics (KIP-877)?"""
    return _release(kafka_version) >= MONITORABLE_AUTHORIZER_SINCE


def msk_iam_plugin_jar_dir(kafka_version: str) -> Path:
    """The plugin build a node of this Kafka release runs: `<plugin dir>/kafka-4.1/` (built against Kafka 4.1)
    from 4.1 on, else the plugin dir itself (built against 3.9). A classpath names one of them, never both."""
    base = msk_iam_plugin_dir()
    return base / KAFKA41_BUILD if monitorable_authorizer(kafka_version) else base


def msk_iam_client_dir() -> Path:
    """aws-msk-iam-auth and its dependencies: put `<dir>/*` on CLASSPATH for the Kafka tools."""
    return cache_dir() / "clients" / "aws-msk-iam-auth"


def _mvn(args: list[str], cwd: Path | None = None) -> None:
    """Maven online, else offline from the local repository (~/.m2) when Central cannot be reached."""
    try:
        subprocess.run(["mvn", "-q", "-B", *args], check=True, cwd=cwd)
    except subprocess.CalledProcessError:
        subprocess.run(["mvn", "-q", "-B", "-o", *args], check=True, cwd=cwd)


def install_msk_iam_plugin() -> Path:
    """Build plugins/msk-iam into its content-addressed directory of the plugins cache (msk_iam_plugin_dir();
    nothing to do when that directory already has the jars: the same sources were built before). Two builds:
    against Kafka 3.9 (`<dir>/openmsk-msk-iam.jar`) and against Kafka 4.1 (`-Pkafka41`,
    `<dir>/kafka-4.1/openmsk-msk-iam.jar`); returns the first."""
    jar = msk_iam_plugin_dir() / "openmsk-msk-iam.jar"
    builds = [([], PLUGIN_SOURCES / "target", jar),
              (["-Pkafka41"], PLUGIN_SOURCES / "target" / "kafka41", jar.parent / KAFKA41_BUILD / jar.name)]
    for profile, target, out in builds:
        if out.exists():
            continue
        _mvn(["-f", str(PLUGIN_SOURCES / "pom.xml"), *profile, "package"])
        out.parent.mkdir(parents=True, exist_ok=True)
        # copy + rename: a jar appears whole or not at all (two installs of the same sources may race here)
        tmp = out.with_suffix(f".jar.{os.getpid()}.tmp")
        shutil.copyfile(target / "openmsk-msk-iam.jar", tmp)
        os.replace(tmp, out)
    return jar


def install_msk_iam_client() -> Path:
    out = msk_iam_client_dir()
    if not any(out.glob("aws-msk-iam-auth-*.jar")):
        out.mkdir(parents=True, exist_ok=True)
        _mvn(["-f", str(IAM_CLIENT_POM), "dependency:copy-dependencies", f"-DoutputDirectory={out}",
              "-DincludeScope=runtime"])
    return out


# The Prometheus JMX exporter agent MSK's Open Monitoring runs on 11001. 1.0.1 is the last version the
# maintainers published to Maven Central (kafka-runtime.md §4). It lives in its own directory; a broker's
# command names it with -javaagent, which java_command turns into a start from the classpath (classpath_agent).
JMX_EXPORTER_ARTIFACT = "io.prometheus.jmx:jmx_prometheus_javaagent:1.0.1"
JMX_EXPORTER_JAR = "{1}-{2}.jar".format(*JMX_EXPORTER_ARTIFACT.split(":"))


# The launcher in openmsk's plugin jar that runs an agent's premain from the classpath, then the main class
# (plugins/msk-iam/.../launch/ClasspathAgent.java). Why: a JVM attaching an agent with -javaagent can neither
# put the agent's classes in its class-data-sharing archive (runtime/cds.py: that needs a diagnostic flag that
# makes every JVM print a warning) nor use the archived module graph (java.instrument is added to the boot
# layer): the JMX exporter's premain cost a broker ~0.3 s of CPU, ~0.1 s from the classpath and the archive.
CLASSPATH_AGENT_MAIN = "dev.openmsk.launch.ClasspathAgent"


def classpath_agent(kafka_version: str, cmd: list[str], main_class: str, args: list[str]) -> tuple[str, list[str]]:
    """(main class, args) of a java command whose `-javaagent:` option naming the JMX exporter (whose premain
    needs no Instrumentation) is taken out of `cmd` and started by CLASSPATH_AGENT_MAIN instead; the caller
    appends the agent's jar (args[0] up to "=") to the classpath. Unchanged without such an option, or when
    this checkout's plugin jar is not built (then the agent stays a -javaagent)."""
    prefix = "-javaagent:"
    agents = [o for o in cmd if o.startswith(prefix) and Path(o[len(prefix):].split("=", 1)[0]).name
              == JMX_EXPORTER_JAR]
    if len(agents) != 1 or not (msk_iam_plugin_jar_dir(kafka_version) / "openmsk-msk-iam.jar").exists():
        return main_class, args
    cmd.remove(agents[0])
    return CLASSPATH_AGENT_MAIN, [agents[0][len(prefix):], main_class, *args]


def jmx_exporter_agent() -> Path:
    """Path of the JMX exporter agent jar (raises DistributionMissing if scripts/install has not run)."""
    path = cache_dir() / "agents" / JMX_EXPORTER_JAR
    if not path.exists():
        raise DistributionMissing(f"JMX exporter agent not found at {path}; run scripts/install")
    return path


def install_jmx_exporter() -> Path:
    """Fetch the JMX exporter agent with Maven into the agents cache (idempotent)."""
    try:
        return jmx_exporter_agent()
    except DistributionMissing:
        pass
    out = cache_dir() / "agents"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mvn", "-q", "-B", "dependency:copy", f"-Dartifact={JMX_EXPORTER_ARTIFACT}",
                    f"-DoutputDirectory={out}"], check=True, cwd=out)
    return jmx_exporter_agent()


# Kafka's own JVM tuning (kafka-run-class.sh KAFKA_JVM_PERFORMANCE_OPTS).
KAFKA_JVM_PERFORMANCE_OPTS = [
    "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
]
