"""The MSK IAM broker plugin in the shared cache (~/.cache/openmsk/plugins) is kept per plugin source content:
worktrees or installations with different plugins/msk-iam sources do not overwrite each other's jar, and a
broker's classpath names the jar of the sources its openmsk runs from. The jar scripts/install built; no cluster."""
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

    # another checkout whose plugin differs (an older main without ServerlessTopicPolicy): another directory, so
    # its installation cannot overwrite our jar, and a broker started from it gets its own jar
    other = tmp_path / "msk-iam"
    shutil.copytree(distribution.PLUGIN_SOURCES, other, ignore=shutil.ignore_patterns("target"))
    same = msk_iam_plugin_dir()
    monkeypatch.setattr(distribution, "PLUGIN_SOURCES", other)
    assert msk_iam_plugin_dir() == same                 # the same content (Maven's target/ aside): the same jar
    (other / "src/main/java/dev/openmsk/iam/ServerlessTopicPolicy.java").unlink()
    assert msk_iam_plugin_dir() != same and msk_iam_plugin_dir().parent == same.parent
    assert str(msk_iam_plugin_dir() / "*") in KafkaDistribution.locate().classpath.split(":")
    assert not (msk_iam_plugin_dir() / ours.name).exists()   # not built: install_msk_iam_plugin would build it there
    with zipfile.ZipFile(ours) as jar:
        assert "dev/openmsk/iam/ServerlessTopicPolicy.class" in jar.namelist()
