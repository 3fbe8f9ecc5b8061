"""aiohttp front door: one catch-all route serving every provider's AWS API.

Per request, in order (each step a small function below):
  1. read the raw body; keep ``request.raw_path`` percent-encoded (routing and signing);
  2. authenticate (SigV4): the credential scope's service picks the provider;
  3. detect the wire protocol of *this* request (CloudWatch speaks json and query);
  4. parse -> validate -> call the ``@handler`` method -> serialize.
Errors: ``ServiceException`` -> spec-shaped error in the request's protocol; auth failures
-> 403 in that service's vocabulary; anything else -> logged 500 (never for deterministic
client mistakes: the CLI retries 5xx). ``GET /_openmsk/health`` is unsigned.
"""
from __future__ import annotations

import hmac
import json
import logging
import uuid
from typing import Callable, Iterable

from aiohttp import web
from botocore.model import ServiceModel

from . import eventstream
from . import specs
from . import unserved
from ..util import current_request_id
from .core import Provider, RequestContext, ServiceException, current_service_model
from .invoke import Operations, ServiceRoute, invoke
from .output_check import OutputShapeError, check_output, strict_output_from_env
from .protocols import get_protocol
from .protocols._common import MAX_BODY, BodyTooLarge
from .sigv4 import AuthError, SigV4Verifier, parse_authorization

log = logging.getLogger("openmsk.api")

#: Generic AuthError code -> per-protocol error code.
_AUTH_CODES = {
    "query": {"MissingAuthenticationTokenException": "MissingAuthenticationToken",
              "IncompleteSignatureException": "IncompleteSignature",
              "UnrecognizedClientException": "InvalidClientTokenId",
              "InvalidSignatureException": "SignatureDoesNotMatch"},
    "rest-xml": {"MissingAuthenticationTokenException": "AccessDenied",            # S3's codes
                 "IncompleteSignatureException": "AuthorizationHeaderMalformed",
                 "UnrecognizedClientException": "InvalidAccessKeyId",
                 "InvalidSignatureException": "SignatureDoesNotMatch"},
}


def detect_protocol(model: ServiceModel, method: str, raw_path: str, headers, body: bytes) -> str:
    """Protocol of this request among those the model supports (X-Amz-Target > Action= > default)."""
    protocols = specs.supported_protocols(model)
    if "json" in protocols and headers.get("X-Amz-Target"):
        return "json"
    form = "application/x-www-form-urlencoded" in (headers.get("Content-Type") or "")
    if form or "Action=" in raw_path.partition("?")[2]:
        for p in ("ec2", "query"):
            if p in protocols:
                return p
    for p in ("rest-json", "json", "ec2", "query", "rest-xml"):     # supported ones, model order aside
        if p in protocols:
            return p
    raise ServiceException("UnsupportedProtocolException",
                           f"openmsk does not support the {model.protocol} protocol", status_code=400)


def _guess_service(routes: dict[str, ServiceRoute], raw_path: str, headers, body: bytes) -> str | None:
    """Best-effort service of an unauthenticated request (to answer in its protocol)."""
    auth = parse_authorization(headers.get("Authorization"))
    if auth:
        return auth["service"]
    target = (headers.get("X-Amz-Target") or "").rpartition(".")[0]
    form = raw_path.partition("?")[2] + "&" + body[:4096].decode("latin-1")
    for name, route in routes.items():
        if target and route.model.metadata.get("targetPrefix") == target:
            return name
        if f"Version={route.model.api_version}" in form and "Action=" in form:
            return name
        if route.model.protocol == "rest-json" and not target and rest_json_matches(route.model, raw_path):
            return name
    return None


def rest_json_matches(model: ServiceModel, raw_path: str) -> bool:
    path = raw_path.partition("?")[0].strip("/")
    first = path.split("/")[0] if path else ""
    for name in model.operation_names:
        uri = model.operation_model(name).http["requestUri"].strip("/")
        if first and uri.split("/")[0] == first:
            return True
    return False


def _error_response(model, protocol, op, exc: ServiceException, request_id) -> web.Response:
    status, headers, body = get_protocol(protocol).serialize_error(model, op, exc, request_id)
    headers.setdefault("x-amzn-RequestId", request_id)
    return web.Response(status=status, headers=headers, body=body)


def _auth_error(routes, err: AuthError, raw_path, headers, body, request_id) -> web.Response:
    service = err.service or _guess_service(routes, raw_path, headers, body)
    route = routes.get(service or "")
    if route is None:
        xml_code = _AUTH_CODES["query"].get(err.code, err.code)
        return _respond(unserved.error_response(service, raw_path, headers, (err.code, xml_code),
                                                err.message, 403, request_id))
    try:
        protocol = detect_protocol(route.model, "POST", raw_path, headers, body)
    except ServiceException:
        protocol = "rest-json"
    if protocol == "rest-json":
        code = "ForbiddenException"
    elif protocol == "ec2":
        code = "AuthFailure"
    else:
        code = _AUTH_CODES.get(protocol, {}).get(err.code, err.code)
    if protocol == "json" and "awsQueryCompatible" in route.model.metadata:
        code = _AUTH_CODES["query"].get(err.code, err.code)   # __type and x-amzn-query-error agree
    status = 400 if code in ("XAmzContentSHA256Mismatch", "IncompleteBody", "BadDigest") else 403
    return _error_response(route.model, protocol, None, ServiceException(code, err.message, status_code=status),
                           request_id)


def _respond(triple: tuple[int, dict, bytes]) -> web.Response:
    status, headers, body = triple
    return web.Response(status=status, headers=headers, body=body)


def _too_large(routes, raw_path, headers, request_id) -> web.Response:
    """413 in the protocol of the request's service (the body is never read, so only headers tell)."""
    message = f"Request body exceeds the limit of {MAX_BODY} bytes"
    service = (parse_authorization(headers.get("Authorization")) or {}).get("service")
    route = routes.get(service or "")
    if route is None:
        return _respond(unserved.error_response(
            service, raw_path, headers, ("RequestEntityTooLargeException", "RequestEntityTooLarge"),
            message, 413, request_id))
    protocol = detect_protocol(route.model, "POST", raw_path, headers, b"")
    code = "RequestEntityTooLarge" if protocol in ("query", "ec2") else "RequestEntityTooLargeException"
    return _error_response(route.model, protocol, None, ServiceException(code, message, status_code=413),
                           request_id)


async def _read_body(request: web.Request) -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY (refused before reading it all)."""
    if (request.content_length or 0) > MAX_BODY:
        return None
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None


def _internal_error(model: ServiceModel, protocol: str) -> ServiceException:
    for code in ("InternalServerErrorException", "InternalServiceFault", "InternalServerException"):
        if specs.find_error_shape(model, code):
            return ServiceException(code, "An internal error occurred in openmsk.", status_code=500,
                                    sender_fault=False)
    code = "InternalError" if protocol in ("ec2", "query") else "InternalFailure"
    return ServiceException(code, "An internal error occurred in openmsk.", status_code=500, sender_fault=False)


def _signed_json_route(verifier: SigV4Verifier, fn: Callable) -> Callable:
    """An openmsk route that is not an AWS API (e.g. POST /_openmsk/v1/zone-outage, which `openmsk zone`
    calls): SigV4-signed with the installation's key like every AWS call, a JSON object in and out.
    ``fn(region, payload) -> dict``; a ServiceException becomes {"Code", "Message"} with its status."""
    async def route(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            cred = verifier.verify(request.method, request.raw_path, request.headers, body)
        except AuthError as err:
            return web.json_response({"Code": err.code, "Message": err.message}, status=403)
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError
            return web.json_response(await fn(cred.region, payload))
        except ValueError:
            return web.json_response({"Code": "ValidationException", "Message": "The body must be a JSON object."},
                                     status=400)
        except ServiceException as exc:
            return web.json_response({"Code": exc.code, "Message": exc.message}, status=exc.status_code)
    return route


async def _stream_events(request: web.Request, initial: dict, stream, request_id: str) -> web.StreamResponse:
    """An event-stream response (api/eventstream.py), written as the provider yields events; a client
    that goes away ends it (the provider's iterator is closed, so it stops polling)."""
    response = web.StreamResponse(status=200, headers={"Content-Type": eventstream.CONTENT_TYPE,
                                                       "x-amzn-RequestId": request_id})
    await response.prepare(request)
    frames = eventstream.frames(initial, stream)
    try:
        async for frame in frames:
            await response.write(frame)
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        await frames.aclose()
        aclose = getattr(stream.events, "aclose", None)
        if aclose is not None:
            await aclose()
    return response


def _token_json_route(token: str, fn: Callable) -> Callable:
    """A route only openmsk's brokers call (the MSK IAM plugin): authenticated by the installation's
    channel token in ``X-Openmsk-Broker-Token`` (constant-time compare), JSON in and out.
    ``fn(payload) -> (status, dict)``, synchronous and fast (store reads, HMACs)."""
    async def route(request: web.Request) -> web.Response:
        given = request.headers.get("X-Openmsk-Broker-Token", "")
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return web.json_response({"error": "bad channel token"}, status=401)
        try:
            payload = json.loads(await request.read() or b"{}")
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError:
            return web.json_response({"error": "The body must be a JSON object."}, status=400)
        status, out = fn(payload)
        return web.json_response(out, status=status)
    return route


def create_app(providers: Iterable[Provider], lookup_secret: Callable[[str], str | None],
               account_id: str = "123456789012", *, strict_output: bool | None = None,
               extra_routes: Iterable[tuple[str, str, Callable]] = (),
               authorize: Callable[[RequestContext, dict], None] | None = None,
               internal_lookup_secret: Callable[[str], str | None] | None = None,
               web_routes: Callable[[Operations], Iterable[tuple[str, str, Callable]]] | None = None,
               broker_routes: Iterable[tuple[str, str, Callable]] = (), broker_token: str = "",
               ) -> web.Application:
    """``strict_output`` (default: env OPENMSK_STRICT_OUTPUT=1, set by the test harness): a provider
    result that does not fit its operation's output shape is a logged 500 instead of being trimmed.
    ``authorize(ctx, params)`` (optional): called after parsing and validation, before the handler; raises the
    service's own AccessDenied ServiceException to refuse (IAM policy evaluation, services/iam).
    ``internal_lookup_secret``: keys accepted on ``extra_routes`` (default ``lookup_secret``; app.py passes
    the installation's key only, so IAM users cannot reach openmsk's operator routes).
    ``web_routes(operations)`` (optional): plain aiohttp routes (the web console) given the same
    validate/authorize/handler path the gateway uses (api/invoke.py), mounted before the catch-all.
    ``broker_routes`` are called by brokers with ``broker_token`` (``_token_json_route``)."""
    strict = strict_output_from_env() if strict_output is None else strict_output
    providers = list(providers)
    for provider in providers:
        provider.check_operations()
    operations = Operations(providers, authorize, account_id, strict)
    routes: dict[str, ServiceRoute] = operations.routes
    verifier = SigV4Verifier(lookup_secret)
    internal_verifier = SigV4Verifier(internal_lookup_secret) if internal_lookup_secret else verifier

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def dispatch(request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4())
        current_request_id.set(request_id)       # aiohttp serves each request in a task of its own
        raw_path, headers, method = request.raw_path, request.headers, request.method
        body = await _read_body(request)
        if body is None:
            return _too_large(routes, raw_path, headers, request_id)
        try:
            cred = verifier.verify(method, raw_path, headers, body)
        except AuthError as err:
            log.info("auth failure %s %s: %s", method, raw_path.partition("?")[0], err.code)
            return _auth_error(routes, err, raw_path, headers, body, request_id)
        if cred.payload is not None:          # S3 aws-chunked upload, decoded and chunk-verified
            body = cred.payload
        route = routes.get(cred.service)
        if route is None:
            return _respond(unserved.error_response(
                cred.service, raw_path, headers, ("UnknownServiceException", "InvalidAction"),
                f"Service {cred.service} is not served by openmsk", 400, request_id))
        model, protocol, op = route.model, "rest-json", None
        token = current_service_model.set(model)
        try:
            protocol = detect_protocol(model, method, raw_path, headers, body)
            codec = get_protocol(protocol)
            op, params = codec.parse_request(model, method, raw_path, headers, body)
            ctx = RequestContext(service=cred.service, operation_name=op.name, operation=op,
                                 region=cred.region, account_id=account_id,
                                 access_key_id=cred.access_key_id, request_id=request_id,
                                 protocol=protocol, headers=headers, host=headers.get("Host", ""),
                                 service_model=model, source_ip=request.remote or "")
            result = await invoke(route, op, params, ctx, authorize)
            if op.has_event_stream_output:
                initial, stream = eventstream.split_output(op, result)
                if stream is not None:
                    return await _stream_events(request, initial, stream, request_id)
            if strict:
                check_output(op, result)
            status, out_headers, out_body = codec.serialize_response(op, result, request_id)
            out_headers.setdefault("x-amzn-RequestId", request_id)
            return web.Response(status=status, headers=out_headers, body=out_body)
        except BodyTooLarge as exc:
            return _error_response(model, protocol, op, ServiceException(
                "RequestEntityTooLarge" if protocol in ("query", "ec2") else "RequestEntityTooLargeException",
                str(exc), status_code=413), request_id)
        except OutputShapeError as exc:
            log.error("%s.%s returned a result that does not fit its output shape: %s (request %s)",
                      cred.service, op.name if op else "?", exc, request_id)
            return _error_response(model, protocol, op, _internal_error(model, protocol), request_id)
        except ServiceException as exc:
            if exc.status_code >= 500:
                log.warning("%s.%s -> %s (%s)", cred.service, op.name if op else "?", exc.code, exc.status_code)
            return _error_response(model, protocol, op, exc, request_id)
        except Exception:
            log.exception("internal error in %s.%s (request %s)", cred.service, op.name if op else "?",
                          request_id)
            return _error_response(model, protocol, op, _internal_error(model, protocol), request_id)
        finally:
            current_service_model.reset(token)

    # auto_decompress=False: SigV4 signs the *compressed* bytes of gzip bodies (PutMetricData);
    # the protocol parsers gunzip after verification.
    app = web.Application(client_max_size=MAX_BODY, handler_args={"auto_decompress": False})
    app.router.add_get("/_openmsk/health", health)
    for provider in routes.values():     # unsigned pages a service serves itself (SNS: SigningCertURL)
        for method, path, page in getattr(provider.provider, "public_routes", list)():
            app.router.add_route(method, path, page)
    for method, path, fn in extra_routes:       # openmsk's own signed routes (app.py), before the catch-all
        app.router.add_route(method, path, _signed_json_route(internal_verifier, fn))
    for method, path, page in (web_routes(operations) if web_routes else ()):
        app.router.add_route(method, path, page)
    for method, path, fn in broker_routes:
        app.router.add_route(method, path, _token_json_route(broker_token, fn))
    app.router.add_route("*", r"/{tail:[\s\S]*}", dispatch)     # [\s\S]: paths with %0A too (".*" stops at it)
    return app
