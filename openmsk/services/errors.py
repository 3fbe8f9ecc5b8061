"""The one error type of service backends and the one place it becomes an API error.

A backend (KMS keys, Secrets Manager secrets, ACM PCA authorities, ...) raises
``BackendError(code, message)`` where ``code`` is the error shape name of its own service model
(``NotFoundException``, ``ResourceNotFoundException``, ...). Providers built on a backend mix in
``MapsBackendErrors``: every handler then turns a BackendError into the ``ServiceException`` of the
same code, so no handler needs a try/except of its own. A backend used by another service (Secrets
Manager decrypting with KMS keys, MSK reading secrets) catches BackendError and maps it to its own
vocabulary first.
"""
from __future__ import annotations

import functools

from ..api.core import ServiceException


class BackendError(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def as_service_exception(err: BackendError) -> ServiceException:
    return ServiceException(err.code, err.message)


def _mapped(fn):
    @functools.wraps(fn)
    async def call(ctx, request):
        try:
            return await fn(ctx, request)
        except BackendError as err:
            raise as_service_exception(err) from None
    return call


class MapsBackendErrors:
    """Provider mixin: BackendError from any handler -> ServiceException of the same code."""

    def dispatch_table(self) -> dict:
        return {op: _mapped(fn) for op, fn in super().dispatch_table().items()}
