"""Application Auto Scaling, the subset MSK storage auto scaling uses (kafka:broker-storage:VolumeSize)."""
from .backend import ScalingStore, StorageAutoScaler, autoscaling_interval
from .provider import ApplicationAutoScalingProvider

__all__ = ["ApplicationAutoScalingProvider", "ScalingStore", "StorageAutoScaler", "autoscaling_interval"]
