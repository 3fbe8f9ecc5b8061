"""EC2: the read-mostly VPC subset (zones, default VPC, subnets, security groups) MSK requests name."""
from .provider import Ec2Provider

__all__ = ["Ec2Provider"]
