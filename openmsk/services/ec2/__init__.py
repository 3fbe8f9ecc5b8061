"""EC2: the VPC subset MSK requests name (zones, VPCs, subnets, security groups and rules, tags)."""
from .provider import Ec2Provider

__all__ = ["Ec2Provider"]
