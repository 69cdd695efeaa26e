"""What a log line holds: JSON with the fields that join it to requests, traces and
replicas, or a human line in a terminal; and nothing formatted for a line not written."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace import TracerProvider
from switchboard_core.http.app import RawRoutesFirst, create_app
from switchboard_core.http.edge import RequestIds
from switchboard_core.logs import configure_logging
from switchboard_core.logs.setup import AT_LEAST_INFO, chosen_format, replica_name

REQUIRED = {"time", "level", "service", "replica", "logger", "message", "request_id", "trace_id", "span_id"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name in AT_LEAST_INFO:
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.captureWarnings(False)


def _json_log(level: str = "info") -> io.StringIO:
    stream = io.StringIO()
    configure_logging(
        level=level, log_format="json", service="auth,registry", replica="auth-2", stream=stream
    )
    return stream


def _events(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_carries_time_level_service_replica_and_message(restore_root) -> None:
    stream = _json_log()
    logging.getLogger("switchboard_auth.app").warning("user %s locked out", "u1", extra={"attempts": 5})
    (event,) = _events(stream)
    assert REQUIRED <= event.keys()
    assert event["level"] == "warning" and event["logger"] == "switchboard_auth.app"
    assert event["service"] == "auth,registry" and event["replica"] == "auth-2"
    assert event["message"] == "user u1 locked out" and event["attempts"] == 5
    assert event["time"].endswith("Z") and len(event["time"]) == len("2026-12-07T22:15:29.123Z")
    assert event["request_id"] == event["trace_id"] == event["span_id"] == ""


def test_a_traceback_is_one_field_of_one_line(restore_root) -> None:
    stream = _json_log()
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("t").exception("it failed")
    (event,) = _events(stream)
    assert event["message"] == "it failed"
    assert "Traceback" in event["exc"] and "ValueError: bad value" in event["exc"]


def test_a_line_logged_in_a_recording_span_carries_its_trace_and_span_ids(restore_root) -> None:
    stream = _json_log()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("t").info("inside")
    context = span.get_span_context()
    (event,) = _events(stream)
    assert event["trace_id"] == format(context.trace_id, "032x")
    assert event["span_id"] == format(context.span_id, "016x")


async def test_a_line_logged_while_serving_a_request_carries_its_request_id(restore_root) -> None:
    stream = _json_log()
    router = APIRouter()

    @router.get("/note")
    async def note() -> dict:
        logging.getLogger("t").info("serving")
        return {}

    app = create_app(title="t", routers=[router])
    transport = httpx.ASGITransport(app=RequestIds(RawRoutesFirst(app, [])))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        sent = await client.get("/note", headers={"x-request-id": "req-from-nginx-1"})
        made = await client.get("/note")
    first, second = [e for e in _events(stream) if e["logger"] == "t"]
    assert sent.headers["x-request-id"] == first["request_id"] == "req-from-nginx-1"
    assert made.headers["x-request-id"] == second["request_id"] != ""


def test_a_line_below_the_level_is_never_formatted(restore_root) -> None:
    stream = _json_log(level="info")
    formatted: list[str] = []

    class Costly:
        def __str__(self) -> str:
            formatted.append("yes")
            return "costly"

    logging.getLogger("t").debug("detail %s", Costly())
    assert formatted == [] and stream.getvalue() == ""
    logging.getLogger("t").info("detail %s", Costly())
    assert formatted == ["yes"]


def test_text_in_a_terminal_and_json_elsewhere_when_auto(restore_root) -> None:
    assert chosen_format("auto", Terminal()) == "text"
    assert chosen_format("auto", io.StringIO()) == "json"
    assert chosen_format("json", Terminal()) == "json"
    terminal = Terminal()
    configure_logging(level="info", log_format="auto", service="auth", replica="", stream=terminal)
    logging.getLogger("switchboard_auth").info("signing key %s added", "k1")
    line = terminal.getvalue()
    assert " INFO " in line and "switchboard_auth: signing key k1 added" in line
    assert not line.startswith("{")


def test_the_replica_is_the_host_name_unless_configured(monkeypatch) -> None:
    monkeypatch.setenv("HOSTNAME", "mcp-proxy-7d9c-x2")
    assert replica_name() == "mcp-proxy-7d9c-x2"
    assert replica_name("proxy-1") == "proxy-1"


def test_a_secret_in_a_message_or_a_traceback_is_masked(restore_root) -> None:
    stream = _json_log()
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"
    try:
        raise RuntimeError(f"upstream said 401 to Authorization: Bearer {jwt}")
    except RuntimeError:
        logging.getLogger("t").exception("call failed with password=hunter2-hunter2")
    text = stream.getvalue()
    assert jwt not in text and "hunter2-hunter2" not in text
    assert "[redacted]" in _events(stream)[0]["message"]


def test_at_debug_the_database_driver_still_does_not_quote_statement_parameters(restore_root) -> None:
    stream = _json_log(level="debug")
    logging.getLogger("aiosqlite").debug("executing INSERT INTO users VALUES ('$argon2id$v=19$...')")
    logging.getLogger("switchboard_auth").debug("our own debug line")
    assert [e["logger"] for e in _events(stream)] == ["switchboard_auth"]
