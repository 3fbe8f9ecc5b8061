"""What the control plane needs from outside `control/`, as narrow interfaces (typing.Protocol).

The service backends implement them (services/secretsmanager, services/acm_pca) and `openmsk/app.py`
hands the implementations to `ControlPlane(...)`, so control/ never imports a service and a service
never attaches attributes to the plane.
"""
from __future__ import annotations

from typing import Protocol


class ScramSecrets(Protocol):
    def value(self, region: str, secret_arn: str) -> str:
        """The AWSCURRENT SecretString of an associated SCRAM secret (JSON with username/password);
        raises if the secret is gone, scheduled for deletion or cannot be decrypted."""


class ClientCertificateAuthorities(Protocol):
    def ca_certificate_pem(self, ca_arn: str) -> bytes:
        """PEM certificate of an ACM PCA certificate authority, for the brokers' client truststore."""


class VpcConnections(Protocol):
    def with_data_path(self) -> list[dict]:
        """Client VPC connections that should reach their cluster now (MSK state AVAILABLE), each with
        VpcConnectionArn, TargetClusterArn, Authentication, VpcId, ClientSubnets, SecurityGroups, Region."""

    def settles_in(self) -> float | None:
        """Seconds until the next pending transition of a connection completes by the clock alone (it
        may change `with_data_path` with no write); None when none is pending."""
