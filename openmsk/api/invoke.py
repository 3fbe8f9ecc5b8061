"""The one path from a parsed request to a provider's handler: validate -> authorize -> call.

The HTTP gateway (gateway.py) runs it after SigV4 and wire parsing; the web console (openmsk/console)
runs it for every action it takes on behalf of a signed-in key. Both therefore see the same model
validation, the same IAM decision (`authorize(ctx)`) and the same handler, so the console can never do
what the same API call would be refused.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

from botocore.model import OperationModel, ServiceModel
from multidict import CIMultiDict

from . import specs
from .core import Provider, RequestContext, ServiceException, current_service_model, not_implemented
from .output_check import check_output
from .validate import validate

#: Protocol the console's calls are attributed to, per service (errors take that protocol's codes).
PREFERRED_PROTOCOLS = ("rest-json", "json", "query", "ec2", "rest-xml")


class ServiceRoute:
    """One provider with its model, handlers and protocols."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.model: ServiceModel = specs.load_service_model(provider.service_name)
        self.handlers = provider.dispatch_table()
        self.protocols = specs.supported_protocols(self.model)


async def invoke(route: ServiceRoute, op: OperationModel, params: dict, ctx: RequestContext,
                 authorize: Callable[[RequestContext, dict], None] | None, strict: bool = False) -> dict:
    """Validate, authorize and run one operation (the caller has set `current_service_model`). `strict`:
    check the result against the output shape here (the gateway checks after splitting event streams)."""
    fn = route.handlers.get(op.name)
    if fn is None:
        raise not_implemented(op.name, ctx.protocol)
    validate(op, params)
    if authorize is not None:
        authorize(ctx, params)
    result = await fn(ctx, params) or {}
    if strict:
        check_output(op, result)
    return result


@dataclass(frozen=True)
class Identity:
    """Who a console call is made for: an access key the SigV4 lookup accepts (and, for an STS
    session, its token). The secret is not kept: the key was proven at sign-in."""
    access_key_id: str
    region: str
    source_ip: str = ""
    session_token: str | None = field(default=None, repr=False)


class Operations:
    """Every served operation, callable in-process with an Identity (the console's API client)."""

    def __init__(self, providers: Iterable[Provider], authorize: Callable[[RequestContext, dict], None] | None,
                 account_id: str, strict: bool = False) -> None:
        self.routes = {p.service_name: ServiceRoute(p) for p in providers}
        self.authorize, self.account_id, self.strict = authorize, account_id, strict

    def _ctx(self, identity: Identity, service: str, operation: str, op: OperationModel | None,
             protocol: str, model: ServiceModel | None) -> RequestContext:
        headers = CIMultiDict()
        if identity.session_token:
            headers["X-Amz-Security-Token"] = identity.session_token
        return RequestContext(service=service, operation_name=operation, operation=op, region=identity.region,
                              account_id=self.account_id, access_key_id=identity.access_key_id,
                              request_id=str(uuid.uuid4()), protocol=protocol, headers=headers,
                              host="console", service_model=model, source_ip=identity.source_ip,
                              serialized=False)

    async def call(self, identity: Identity, service: str, operation: str, params: dict | None = None) -> dict:
        """Run `service:operation` as the API would for this key; raises the API's ServiceException."""
        route = self.routes.get(service)
        if route is None:
            raise ServiceException("UnknownServiceException", f"Service {service} is not served by openmsk", 400)
        if operation not in route.model.operation_names:
            raise ServiceException("InvalidAction", f"{service} has no operation {operation}", 400)
        protocol = next((p for p in PREFERRED_PROTOCOLS if p in route.protocols), route.model.protocol)
        op = route.model.operation_model(operation)
        token = current_service_model.set(route.model)
        try:
            ctx = self._ctx(identity, service, operation, op, protocol, route.model)
            return await invoke(route, op, dict(params or {}), ctx, self.authorize, self.strict)
        finally:
            current_service_model.reset(token)

    def check_action(self, identity: Identity, action: str, params: dict | None = None) -> None:
        """IAM decision for an action that is not an API operation of the endpoint (Kafka data-plane
        actions such as `kafka-cluster:ReadData` with {"ClusterArn", "Topic"|"Group"}), by the same
        authorizer; raises AccessDeniedException."""
        prefix, _, name = action.partition(":")
        if self.authorize is not None:
            self.authorize(self._ctx(identity, prefix, name, None, "rest-json", None), dict(params or {}))
