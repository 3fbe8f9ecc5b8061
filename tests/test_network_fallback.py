"""Without CAP_NET_ADMIN (the service started under `capsh --drop=cap_net_admin`) openmsk falls back to the
loopback layout and says so at start-up, in `openmsk status` and when asked for an instance; security
groups are still recorded. No cluster: the layout shows in the default VPC and in what the service says."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import harness
from harness import OPENMSK, Service, free_port


@pytest.mark.skipif(shutil.which("capsh") is None, reason="capsh (libcap2-bin) is not installed")
def test_without_cap_net_admin_the_loopback_layout_is_used_and_said(tmp_path, monkeypatch):
    wrapper = tmp_path / "openmsk-without-net-admin"
    wrapper.write_text(f"#!/bin/sh\nexec capsh --drop=cap_net_admin -- -c 'exec \"$@\"' capsh {OPENMSK} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setattr(harness, "OPENMSK", str(wrapper))
    service = Service(tmp_path / "data", free_port()).start(env={"OPENMSK_NETWORK": "auto"})
    monkeypatch.setattr(harness, "OPENMSK", OPENMSK)
    try:
        network = json.loads((service.data_dir / "network.json").read_text())
        assert network["mode"] == "loopback" and network["enforced"] is False
        assert "CAP_NET_ADMIN" in network["reason"]
        assert "recorded but not enforced" in service.log_path.read_text()
        ec2 = service.client("ec2")
        assert ec2.describe_vpcs()["Vpcs"][0]["CidrBlock"] == "127.0.0.0/8"
        group = ec2.create_security_group(GroupName="apps", Description="recorded")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpProtocol="tcp", FromPort=9094, ToPort=9094,
                                             CidrIp="10.0.0.0/8")
        assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"][0]["FromPort"] == 9094
        status = subprocess.run([OPENMSK, "status", "--data-dir", str(service.data_dir)], capture_output=True,
                                text=True, timeout=60)
        assert "network: loopback layout: security groups are recorded but not enforced" in status.stdout
        subnet = service.default_subnets(1)[0]
        run = subprocess.run([OPENMSK, "exec", "--data-dir", str(service.data_dir), "--subnet", subnet, "--", "true"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode != 0 and "namespace layout" in run.stderr
    finally:
        service.stop_everything()


def test_loopback_setting_keeps_todays_layout_as_root(tmp_path):
    service = Service(tmp_path / "data", free_port()).start(env={"OPENMSK_NETWORK": "loopback"})
    try:
        assert json.loads((service.data_dir / "network.json").read_text())["mode"] == "loopback"
        cidrs = sorted(s["CidrBlock"] for s in service.client("ec2").describe_subnets()["Subnets"])
        assert cidrs == ["127.11.0.0/16", "127.12.0.0/16", "127.13.0.0/16"]
    finally:
        service.stop_everything()
