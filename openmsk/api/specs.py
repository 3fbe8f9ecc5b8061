"""Service models, loaded at runtime from the installed botocore (never hand-written shapes).

openmsk speaks AWS wire protocols exactly as botocore's service models describe them.
Everything in this package keys services by their SigV4 *signing name* (the service
name in the credential scope): ``kafka``, ``ec2``, ``monitoring``, ``logs``, ``kms``,
``secretsmanager``, ``acm-pca``. This module maps those to botocore service names and
caches the ``ServiceModel``s.

Spec fixes, if ever needed, live in data (``SPEC_PATCHES``: botocore service name ->
dict deep-merged into the raw service-2.json before the model is built), not in code.
"""
from __future__ import annotations

import copy
import functools

import botocore.session
from botocore.model import ServiceModel

#: SigV4 signing name -> botocore service name.
SIGNING_NAME_TO_SERVICE: dict[str, str] = {
    "kafka": "kafka",
    "ec2": "ec2",
    "monitoring": "cloudwatch",
    "logs": "logs",
    "kms": "kms",
    "secretsmanager": "secretsmanager",
    "acm-pca": "acm-pca",
}

#: botocore service name -> partial service-2.json deep-merged into the loaded model.
#: Empty today: botocore's models are correct for everything openmsk serves.
SPEC_PATCHES: dict[str, dict] = {}


@functools.lru_cache(maxsize=None)
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


def _merge(base: dict, patch: dict) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


@functools.lru_cache(maxsize=None)
def load_service_model(name: str) -> ServiceModel:
    """Return the (cached) botocore ServiceModel for a signing name or botocore name."""
    service = SIGNING_NAME_TO_SERVICE.get(name, name)
    patch = SPEC_PATCHES.get(service)
    if not patch:
        return _session().get_service_model(service)
    loader = _session().get_component("data_loader")
    raw = copy.deepcopy(loader.load_service_model(service, "service-2"))
    _merge(raw, patch)
    return ServiceModel(raw, service_name=service)


def supported_protocols(model: ServiceModel) -> list[str]:
    """All wire protocols a model allows (``protocols`` list, else ``protocol``)."""
    return list(model.metadata.get("protocols") or [model.protocol])


def find_error_shape(model: ServiceModel | None, code: str):
    """Error shape whose name or query-compatible code (``error.code``) equals ``code``."""
    if model is None or not code:
        return None
    by_code = None
    for shape in model.error_shapes:
        if shape.name == code:
            return shape
        if by_code is None and shape.metadata.get("error", {}).get("code") == code:
            by_code = shape
    return by_code
