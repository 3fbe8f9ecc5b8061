"""The MSK IAM broker plugin in the shared cache (~/.cache/openmsk/plugins) is kept per plugin source content:
worktrees or installations with different plugins/msk-iam sources do not overwrite each other's jar, and a
broker's classpath names the jar of the sources its openmsk runs from. Real Maven builds, no cluster."""
from __future__ import annotations

import shutil
import zipfile

from openmsk.runtime import distribution
from openmsk.runtime.distribution import KafkaDistribution, install_msk_iam_plugin, msk_iam_plugin_dir


def test_the_plugin_jar_is_kept_per_source_content_and_brokers_use_their_own(tmp_path, monkeypatch):
    ours = install_msk_iam_plugin()                     # scripts/install built it already: no rebuild
    assert ours.parent == msk_iam_plugin_dir() and ours.parent.name.startswith("msk-iam-")
    with zipfile.ZipFile(ours) as jar:                  # what this checkout's sources define
        assert "dev/openmsk/iam/ServerlessTopicPolicy.class" in jar.namelist()
    dist = KafkaDistribution.locate()
    assert str(msk_iam_plugin_dir() / "*") in dist.classpath.split(":")
    assert str(distribution.plugins_dir() / "*") not in dist.classpath.split(":")

    # another checkout whose plugin differs (an older main without ServerlessTopicPolicy): its own directory
    other = tmp_path / "msk-iam"
    shutil.copytree(distribution.PLUGIN_SOURCES, other, ignore=shutil.ignore_patterns("target"))
    (other / "src/main/java/dev/openmsk/iam/ServerlessTopicPolicy.java").unlink()
    monkeypatch.setattr(distribution, "PLUGIN_SOURCES", other)
    older = install_msk_iam_plugin()                    # a real Maven build of the other sources
    try:
        assert older.parent != ours.parent and older.parent == msk_iam_plugin_dir()
        with zipfile.ZipFile(older) as jar:
            assert "dev/openmsk/iam/ServerlessTopicPolicy.class" not in jar.namelist()
        assert str(older.parent / "*") in KafkaDistribution.locate().classpath.split(":")
        with zipfile.ZipFile(ours) as jar:              # ours is untouched by the other installation
            assert "dev/openmsk/iam/ServerlessTopicPolicy.class" in jar.namelist()
        # the same sources again: the same directory, nothing rebuilt
        mtime = older.stat().st_mtime_ns
        assert install_msk_iam_plugin() == older and older.stat().st_mtime_ns == mtime
    finally:
        shutil.rmtree(older.parent, ignore_errors=True)
