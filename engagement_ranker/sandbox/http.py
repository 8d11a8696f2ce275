"""The HTTP machinery every sandbox service shares: routing, JSON, faults, the request log.

Built on the stdlib `ThreadingHTTPServer` rather than a framework because faults need the raw
socket: a "drop" closes it without a response, a "timeout" stalls until the client gives up.
A service is a `JsonService` subclass with a route table; `start_server` runs it on a port.
"""

from __future__ import annotations

import json
import logging
import re
import select
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from engagement_ranker.sandbox.control import handle_control
from engagement_ranker.sandbox.faults import Action, Faults, FaultsError
from engagement_ranker.sandbox.state import NO_RESPONSE, SandboxState

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/_sandbox/"
JSON_TYPE = "application/json;charset=utf-8"
TEXT_TYPE = "text/plain;charset=utf-8"
# Keep-alive connections idle longer than this are closed, so handler threads always end.
IDLE_CONNECTION_SECONDS = 30.0
_STALL_POLL_SECONDS = 0.05
# Served for "malformed" faults: valid HTTP, a JSON body cut off mid-way.
MALFORMED_BODY = b'{"status": "COMPLETE", "results": [{"id": "1", "propert'


@dataclass
class Request:
    """One parsed request, as a route handler sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    route: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        """The first value of query parameter `name`, if given."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        """The body as JSON; a 400 naming the problem when it is not."""
        try:
            return json.loads(self.body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"Invalid JSON in request body: {exc}") from exc


@dataclass
class Response:
    """What a handler returns; `json_response` and `text_response` build the usual ones."""

    status: int
    body: bytes = b""
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A compact JSON response (key order as built, so output is byte-for-byte stable)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status=status, body=body, headers=dict(headers or {}))


def text_response(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A plain-text response (Slack answers webhooks this way)."""
    return Response(status, text.encode(), TEXT_TYPE, dict(headers or {}))


class HttpError(Exception):
    """Raised by handlers: the service turns it into its own error body (or `payload`)."""

    def __init__(
        self,
        status: int,
        message: str,
        payload: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.payload = payload
        self.headers = dict(headers or {})


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """`template` ("GET /admin/pms/locations") is the request-log key; `pattern` matches paths."""

    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Handler


def route(method: str, template: str, handler: Handler) -> Route:
    """A route from a path template whose `{name}` segments become `request.params`."""
    path = template.split(" ", 1)[-1]
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return Route(method, re.compile(f"^{regex}$"), f"{method} {path}", handler)


class JsonService:
    """A sandbox service: a name, routes and hooks. Subclass and override what differs."""

    name = "service"
    serves_control = False  # answer /_sandbox/* (the HubSpot server does)

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._route_table: tuple[Route, ...] | None = None

    def routes(self) -> Iterable[Route]:
        """The emulated API; matched in order."""
        return ()

    def error_body(self, status: int, message: str) -> Any:
        """The service's error payload for `status` (Yobi's envelope by default)."""
        return {"success": False, "message": message}

    def fault_response(self, action: Action, request: Request) -> Response:
        """The response for a status fault; HubSpot overrides it for its 429 bodies."""
        assert isinstance(action.error, int)
        headers = {} if action.retry_after is None else {"Retry-After": str(action.retry_after)}
        message = f"Sandbox fault: {action.reason} {action.error}"
        return json_response(self.error_body(action.error, message), action.error, headers)

    def before(self, request: Request) -> Response | None:
        """Runs after faults, before the handler (auth, rate limits); a response short-cuts."""
        return None

    def after(self, request: Request, response: Response) -> Response:
        """Runs on every emulated response (e.g. rate-limit headers)."""
        return response

    def resolve(self, request: Request) -> Handler | None:
        """Find the route for `request`, filling `route` (the log key) and `params`."""
        if self._route_table is None:
            self._route_table = tuple(self.routes())
        for candidate in self._route_table:
            match = candidate.pattern.match(request.path)
            if match and candidate.method == request.method:
                request.route = candidate.template
                request.params = match.groupdict()
                return candidate.handler
        request.route = f"{request.method} {request.path}"
        return None

    def handle(self, request: Request, handler: Handler | None) -> Response:
        """Apply the hooks, call the handler, turn `HttpError` into this service's error body."""
        try:
            response = self.before(request)
            if response is None:
                if handler is None:
                    raise HttpError(404, f"No route for {request.method} {request.path}")
                response = handler(request)
        except HttpError as exc:
            payload = exc.payload
            if payload is None:
                payload = self.error_body(exc.status, exc.message)
            response = json_response(payload, exc.status, exc.headers)
        return self.after(request, response)


class _Server(ThreadingHTTPServer):
    """Tracks open connections so shutdown can close them and end their threads."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: JsonService) -> None:
        self.service = service
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in list(self.connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_CONNECTION_SECONDS
    server: _Server

    def setup(self) -> None:
        """Disable Nagle: headers and body are separate writes, and 40 ms stalls skew latency."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr lines; the request log is the record."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header by the sandbox's clock (a fixed `now` included), as a real server
        dates its answers by its own."""
        now = self.server.service.state.clock().timestamp()
        return super().date_time_string(now if timestamp is None else timestamp)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        service = self.server.service
        state = service.state
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, parts.path, parse_qs(parts.query), self.headers, body)
        if service.serves_control and parts.path.startswith(CONTROL_PREFIX):
            self._send(self._control(request))
            return
        state.arrived()
        handler = service.resolve(request)
        with state.lock:
            faults = state.faults
        action = faults.take(service.name, request.route)
        if action is not None and self._faulted(action, faults, service, handler, request):
            return
        response = self._respond(service, handler, request, faults)
        state.record(service.name, request.route, response.status)
        self._send(response)

    def _faulted(
        self,
        action: Action,
        faults: Faults,
        service: JsonService,
        handler: Handler | None,
        request: Request,
    ) -> bool:
        """Carry out `action`'s fault; False when the request is still to be served (only
        latency, or a released hold)."""
        state = service.state
        if action.latency_ms and self.server.stopping.wait(action.latency_ms / 1000):
            return True
        if action.error == "hold" and self._stall(faults.timeout_seconds, faults.released):
            return False
        if action.error in ("drop", "timeout", "drop_after", "hold"):
            if action.error == "timeout":
                self._stall(faults.timeout_seconds)
            if action.error == "drop_after":
                self._respond(service, handler, request, faults)  # acted on, answer lost
            state.record(service.name, request.route, NO_RESPONSE)
            self.close_connection = True
            return True
        if action.error == "malformed":
            response = Response(200, MALFORMED_BODY)
        elif action.error is not None:
            response = service.after(request, service.fault_response(action, request))
        else:
            return False
        state.record(service.name, request.route, response.status)
        self._send(response)
        return True

    def _respond(
        self, service: JsonService, handler: Handler | None, request: Request, faults: Faults
    ) -> Response:
        """The service's answer, with the faults' corruptions applied to a 2xx JSON body."""
        try:
            response = service.handle(request, handler)
            if request.route in faults.corrupt and 200 <= response.status < 300:
                response.body = faults.corrupt_body(request.route, response.body)
        except FaultsError as exc:  # a corrupt path that does not fit this answer
            response = json_response(service.error_body(500, f"Sandbox fault: {exc}"), 500)
        except Exception:
            log.exception("sandbox %s failed on %s", service.name, request.route)
            response = json_response(service.error_body(500, "Internal sandbox error"), 500)
        return response

    def _control(self, request: Request) -> Response:
        payload = None
        if request.body:
            try:
                payload = request.json()
            except HttpError as exc:
                return json_response({"error": exc.message}, 400)
        status, result = handle_control(
            self.server.service.state, request.method, request.path, payload
        )
        return json_response(result, status)

    def _stall(self, limit_seconds: float, until: threading.Event | None = None) -> bool:
        """Hold the request unanswered until the client hangs up, shutdown, the limit, or
        `until` is set (then True: the request is to be served)."""
        deadline = limit_seconds
        while deadline > 0 and not self.server.stopping.is_set():
            if until is not None and until.is_set():
                return True
            readable, _, _ = select.select([self.connection], [], [], _STALL_POLL_SECONDS)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:
                    return False
            deadline -= _STALL_POLL_SECONDS
        return False

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class RunningServer:
    """A service listening on a port in a background thread."""

    def __init__(self, service: JsonService, host: str, port: int) -> None:
        self.service = service
        self._server = _Server((host, port), service)
        self.host = host
        self.port: int = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=f"sandbox-{service.name}",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()

    def shutdown(self) -> None:
        """Stop accepting, end stalled and idle connections, release the port."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join()


def start_server(service: JsonService, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Run `service` on host:port (0: a free port); `.url` says where, `.shutdown()` stops it."""
    return RunningServer(service, host, port)
