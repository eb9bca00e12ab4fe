"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks (no network, no mocks).

:class:`OpenAICompatServer` is a threaded ``http.server`` bound to ``127.0.0.1`` on a free port. It speaks
enough of the OpenAI REST API for the ``openai`` SDK (and ``huggingface_hub.InferenceClient``) to talk to it:

- ``POST /v1/chat/completions``: validates the request (``model``, ``messages``; content parts ``text`` and
  ``image_url`` with ``data:`` URLs, whose base64 must decode) and answers in the OpenAI JSON shape, ``usage``
  included;
- ``GET /v1/models``: lists the server's model ids;
- any route you add with :meth:`OpenAICompatServer.add_route` (e.g. ``/v1/images/generations``).

What the chat route answers is scripted, per request, by **either** a list of responses consumed in order
**or** a callable ``handler(request_json) -> answer``. An *answer* is one of:

- ``str``: the assistant text of a normal completion;
- :class:`Reply`: a completion with explicit usage, finish reason or extra delay;
- :class:`Fault`: a raw HTTP answer: ``Fault.rate_limited(retry_after=1)`` (429 + ``Retry-After``),
  ``Fault.server_error()`` (500), ``Fault.timeout(5)`` (sleeps, then drops the connection),
  ``Fault.malformed()`` (200 with a body that is not a completion), ``Fault.drop_connection()``,
  ``Fault.bad_request(msg)`` (400), or any ``Fault(status, body, headers, delay)``;
- ``dict``: sent verbatim as the JSON body with status 200.

With neither list nor handler the server echoes the last user text (``"echo: <text>"``). When the list runs
out the server answers **400** with ``"OpenAICompatServer: scripted responses exhausted after N requests"``
(a permanent error, so a test that under-scripts fails fast and says why).

Every request (any route) is recorded in :attr:`OpenAICompatServer.requests` as a :class:`RecordedRequest`
(method, path, headers, body, parsed ``json``, the status answered). For benchmarks the server can add a fixed
``latency`` to every accepted chat request and enforce a server-side ``rate_limit`` (requests per second,
token bucket; excess requests get 429 with ``Retry-After`` and do not consume a scripted answer).

Example::

    from scigenbench.generators.backends.testing import OpenAICompatServer, Fault

    with OpenAICompatServer(["hello", Fault.rate_limited(retry_after=0.1), "world"]) as server:
        backend = get_backend(f"openai:test-model@{server.base_url}")
        assert backend.chat([{"role": "user", "content": "hi"}]).text == "hello"
        assert server.requests[0].json["messages"][0]["content"] == "hi"

    def draw(request_json):                       # an extra route for image APIs
        return {"data": [{"b64_json": PNG_B64}]}
    with OpenAICompatServer() as server:
        server.add_route("POST", "/v1/images/generations", draw)

Route handlers receive the parsed JSON body (``None`` if the body is not JSON) and return a ``dict``/``list``
(JSON, 200), ``str`` (text/plain, 200), ``bytes`` (application/octet-stream, 200) or a :class:`Fault`.
If a handler raises, the server answers 500 with the exception text (and records it).
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

__all__ = ["OpenAICompatServer", "Fault", "Reply", "RecordedRequest"]


@dataclass
class Reply:
    """A successful chat completion with explicit details.

    Args:
        text: the assistant message content.
        prompt_tokens: usage to report; ``None`` counts whitespace-separated words of the request's text.
        completion_tokens: usage to report; ``None`` counts words of ``text``.
        finish_reason: OpenAI ``finish_reason``.
        delay: extra seconds to sleep before answering (on top of the server ``latency``).
    """

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"
    delay: float = 0.0


@dataclass
class Fault:
    """A raw HTTP answer used to inject failures (or any non-standard response).

    Args:
        status: HTTP status code.
        body: ``dict``/``list`` (sent as JSON), ``str`` or ``bytes`` (sent as is).
        headers: extra response headers (e.g. ``{"Retry-After": "2"}``).
        delay: seconds to sleep before answering.
        disconnect: close the connection without answering (after ``delay``).
    """

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    disconnect: bool = False

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0, *, message: str = "Rate limit reached") -> "Fault":
        """429 with a ``Retry-After`` header (seconds; omitted when ``None``)."""
        headers = {} if retry_after is None else {"Retry-After": _fmt_seconds(retry_after)}
        return cls(429, _error_body(message, "rate_limit_exceeded"), headers)

    @classmethod
    def server_error(cls, status: int = 500, message: str = "Internal server error") -> "Fault":
        """A 5xx error with an OpenAI-style error body."""
        return cls(status, _error_body(message, "server_error"))

    @classmethod
    def bad_request(cls, message: str = "Bad request", status: int = 400) -> "Fault":
        """A permanent 4xx error with an OpenAI-style error body."""
        return cls(status, _error_body(message, "invalid_request_error"))

    @classmethod
    def timeout(cls, seconds: float = 5.0) -> "Fault":
        """Sleep ``seconds`` and then drop the connection: a client with a shorter timeout sees a timeout."""
        return cls(0, None, {}, delay=seconds, disconnect=True)

    @classmethod
    def drop_connection(cls) -> "Fault":
        """Close the connection at once without an answer (a connection error for the client)."""
        return cls(0, None, {}, disconnect=True)

    @classmethod
    def malformed(cls, body: Any = "this is not json {", status: int = 200) -> "Fault":
        """A 200 whose body is not a valid completion (default: not even JSON).

        Other useful bodies: ``{"choices": []}``, ``{"id": "x"}``, ``{"choices": [{"message": {}}]}``.
        """
        return cls(status, body)


class Headers(dict):
    """Request headers with case-insensitive lookup (keys stored lower-case)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class RecordedRequest:
    """One request the server received (``headers`` look-ups are case-insensitive)."""

    method: str
    path: str
    headers: Headers
    body: bytes
    json: Any
    time: float
    status: int | None = None  # what the server answered (0: dropped connection)

    def image_urls(self) -> list[str]:
        """The ``image_url`` URLs of every message content part, in order."""
        urls = []
        for message in (self.json or {}).get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                urls += [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
        return urls

    def texts(self) -> list[str]:
        """Every text of every message (plain strings and ``text`` parts), in order."""
        out = []
        for message in (self.json or {}).get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out += [p.get("text", "") for p in content if p.get("type") == "text"]
        return out


Answer = Any  # str | Reply | Fault | dict
RouteHandler = Callable[[Any], Any]


class OpenAICompatServer:
    """Threaded OpenAI-compatible server on ``127.0.0.1:<free port>``; use as a context manager.

    Args:
        responses: scripted answers consumed one per chat request (see module docstring).
        handler: ``handler(request_json) -> answer``; used instead of ``responses``.
        models: model ids reported by ``GET /v1/models``.
        latency: seconds added to every accepted chat request (or a callable returning seconds).
        rate_limit: server-side limit in requests/second over all chat requests (``None``: unlimited).
        rate_limit_burst: token-bucket capacity (default: ``max(1, rate_limit)``).
        require_api_key: if set, chat requests whose ``Authorization`` is not ``Bearer <key>`` get 401.
        record: keep every request in :attr:`requests` (``False`` for long benchmarks: only :attr:`calls` is
            counted, so memory does not grow with every image sent).

    Attributes:
        base_url: ``"http://127.0.0.1:PORT/v1"``, the value to give an OpenAI client.
        requests: every :class:`RecordedRequest`, in arrival order (thread-safe appends).
    """

    def __init__(self, responses: Iterable[Answer] | None = None, *, handler: Callable[[dict], Answer] | None = None,
                 models: Iterable[str] = ("test-model",), latency: float | Callable[[], float] = 0.0,
                 rate_limit: float | None = None, rate_limit_burst: float | None = None,
                 require_api_key: str | None = None, record: bool = True):
        if responses is not None and handler is not None:
            raise ValueError("OpenAICompatServer: pass either responses=[...] or handler=..., not both")
        self._script = list(responses) if responses is not None else None
        self._handler = handler
        self.models = list(models)
        self.latency = latency
        self.require_api_key = require_api_key
        self.requests: list[RecordedRequest] = []
        self.record = record
        self._chat_calls = 0
        self._lock = threading.Lock()
        self._served = 0
        self._routes: dict[tuple[str, str], RouteHandler] = {}
        self._bucket = _TokenBucket(rate_limit, rate_limit_burst) if rate_limit else None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> "OpenAICompatServer":
        """Bind a free loopback port and serve in a background thread."""
        handler_cls = type("_Handler", (_RequestHandler,), {"server_state": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls, bind_and_activate=False)
        httpd.daemon_threads = True
        httpd.request_queue_size = 256  # bursts of concurrent clients must not overflow the listen backlog
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="OpenAICompatServer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "OpenAICompatServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("OpenAICompatServer is not started; use it as a context manager or call start()")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting -------------------------------------------------------------------------------------------
    def add_route(self, method: str, path: str, handler: RouteHandler) -> None:
        """Serve ``method path`` (e.g. ``"POST", "/v1/images/generations"``) with ``handler(request_json)``."""
        self._routes[(method.upper(), path)] = handler

    def set_responses(self, responses: Iterable[Answer]) -> None:
        """Replace the scripted answers (and drop any handler)."""
        with self._lock:
            self._script, self._handler, self._served = list(responses), None, 0

    def chat_requests(self) -> list[RecordedRequest]:
        """Recorded ``POST /v1/chat/completions`` requests."""
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    @property
    def calls(self) -> int:
        """Number of chat completion requests received (including rejected ones)."""
        return len(self.chat_requests()) if self.record else self._chat_calls

    # -- internals used by the request handler ---------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            if request.path.rstrip("/").endswith("/chat/completions"):
                self._chat_calls += 1
            if self.record:
                self.requests.append(request)

    def _next_answer(self, request_json: dict) -> Answer:
        if self._handler is not None:
            return self._handler(request_json)
        with self._lock:
            if self._script is None:
                return "echo: " + _last_user_text(request_json)
            if self._served >= len(self._script):
                n = self._served
                return Fault.bad_request(f"OpenAICompatServer: scripted responses exhausted after {n} requests")
            answer = self._script[self._served]
            self._served += 1
            return answer

    def _latency(self) -> float:
        return float(self.latency()) if callable(self.latency) else float(self.latency)


class _TokenBucket:
    def __init__(self, rate: float, burst: float | None):
        self.rate = float(rate)
        self.capacity = float(burst if burst is not None else max(1.0, rate))
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """Take a token; return 0 on success, else the seconds until one is available."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


class _RequestHandler(BaseHTTPRequestHandler):
    server_state: OpenAICompatServer  # set on the subclass built in start()
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls
    timeout = 60  # idle keep-alive connections are closed eventually

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr access logs
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        state = self.server_state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        path = self.path.split("?", 1)[0]
        record = RecordedRequest(method, path, Headers(self.headers.items()), body, parsed, time.time())
        state._record(record)
        try:
            answer = self._route(method, path, parsed, body)
        except Exception as exc:  # a test handler bug: answer 500 and keep serving
            answer = Fault.server_error(500, f"OpenAICompatServer handler raised {type(exc).__name__}: {exc}")
        record.status = self._send(answer, parsed)

    def _route(self, method: str, path: str, parsed: Any, body: bytes) -> Any:
        state = self.server_state
        route = state._routes.get((method, path))
        if route is not None:
            return _RouteAnswer(route(parsed))
        if method == "GET" and path.rstrip("/") == "/v1/models":
            return _RouteAnswer({"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "scigenbench-test"} for m in state.models]})
        if method == "POST" and path.rstrip("/") == "/v1/chat/completions":
            return self._chat(parsed, body)
        return Fault(404, _error_body(f"No route {method} {path}", "not_found"))

    def _chat(self, parsed: Any, body: bytes) -> Any:
        state = self.server_state
        if state.require_api_key is not None and \
                self.headers.get("Authorization") != f"Bearer {state.require_api_key}":
            return Fault(401, _error_body("Invalid API key", "invalid_api_key"))
        problem = _validate_chat_request(parsed)
        if problem:
            return Fault.bad_request(f"Invalid chat request: {problem}")
        if state._bucket is not None:
            wait = state._bucket.take()
            if wait > 0:
                return Fault.rate_limited(retry_after=wait, message="Server-side rate limit reached")
        latency = state._latency()
        if latency > 0:
            time.sleep(latency)
        return state._next_answer(parsed)

    def _send(self, answer: Any, request_json: Any) -> int:
        if isinstance(answer, _RouteAnswer):
            status, payload, content_type, headers = _encode_plain(answer.value)
        elif isinstance(answer, Fault):
            if answer.delay:
                time.sleep(answer.delay)
            if answer.disconnect:
                self.close_connection = True
                return 0
            status, payload, content_type, headers = _encode_plain(answer.body)
            status, headers = answer.status, {**headers, **answer.headers}
        else:
            if isinstance(answer, Reply) and answer.delay:
                time.sleep(answer.delay)
            status, payload, content_type, headers = 200, _completion(answer, request_json), "application/json", {}
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
            self.close_connection = True
        return status


@dataclass
class _RouteAnswer:
    value: Any


def _encode_plain(value: Any) -> tuple[int, bytes, str, dict[str, str]]:
    if isinstance(value, Fault):
        status, payload, ctype, _ = _encode_plain(value.body)
        return value.status, payload, ctype, dict(value.headers)
    if value is None:
        return 200, b"", "text/plain", {}
    if isinstance(value, bytes):
        return 200, value, "application/octet-stream", {}
    if isinstance(value, str):
        return 200, value.encode(), "text/plain; charset=utf-8", {}
    return 200, json.dumps(value).encode(), "application/json", {}


def _completion(answer: Any, request_json: dict) -> bytes:
    if isinstance(answer, dict):
        return json.dumps(answer).encode()
    reply = answer if isinstance(answer, Reply) else Reply(str(answer))
    prompt_tokens = reply.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = sum(len(t.split()) for t in _all_texts(request_json))
    completion_tokens = reply.completion_tokens if reply.completion_tokens is not None else len(reply.text.split())
    return json.dumps({
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request_json.get("model", ""),
        "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                     "message": {"role": "assistant", "content": reply.text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }).encode()


def _validate_chat_request(parsed: Any) -> str | None:
    """Return what is wrong with a chat request, or None."""
    if not isinstance(parsed, dict):
        return "body is not a JSON object"
    if not parsed.get("model"):
        return "missing 'model'"
    if parsed.get("stream"):
        return "streaming is not supported by OpenAICompatServer"
    messages = parsed.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            return f"messages[{i}] has no 'role'"
        content = message.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                problem = _validate_part(part)
                if problem:
                    return f"messages[{i}].content[{j}]: {problem}"
        elif not isinstance(content, str) and content is not None:
            return f"messages[{i}].content must be a string or a list of parts"
    return None


def _validate_part(part: Any) -> str | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return None if isinstance(part.get("text"), str) else "text part without a string 'text'"
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        if url.startswith(("http://", "https://")):
            return None
        if not url.startswith("data:image/") or ";base64," not in url:
            return f"image_url must be a data:image/...;base64, URL, got {url[:40]!r}"
        try:
            base64.b64decode(url.split(";base64,", 1)[1], validate=True)
        except (binascii.Error, ValueError):
            return "image_url data URL is not valid base64"
        return None
    return f"unsupported content part type {kind!r}"


def _all_texts(request_json: dict) -> list[str]:
    return RecordedRequest("POST", "", {}, b"", request_json, 0.0).texts()


def _last_user_text(request_json: dict) -> str:
    for message in reversed(request_json.get("messages", [])):
        if message.get("role") == "user":
            texts = RecordedRequest("POST", "", {}, b"", {"messages": [message]}, 0.0).texts()
            return " ".join(texts)
    return ""


def _error_body(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": code, "code": code, "param": None}}


def _fmt_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"
