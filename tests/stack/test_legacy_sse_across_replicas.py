"""The legacy HTTP+SSE transport (2024-11-05) through nginx with two mcp-proxy replicas and
no stickiness: the stream stays on the replica that opened it, while the client's POSTs
land on either; those reaching the other replica are handed to the stream's, so calls
are answered, elicitations answered and calls cancelled whichever replica a POST gets.
A session whose stream died with its replica is unknown (404), not a 202 into the void."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

WAIT_S = 15.0


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"proxy_replicas": 2, "restart_replicas": True}


@pytest.fixture(scope="module")
def token(stack: StackProcess) -> str:
    return stack.login()


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="old") as running:
        yield running


@pytest.fixture(scope="module")
def server_id(stack: StackProcess, token: str, upstream: UpstreamProcess) -> str:
    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        register(admin, "old", upstream.url)
        return create_server(
            admin, "old", ["old__echo", "old__elicit", "old__progress", "old__slow"], bare_names=True
        )


class LegacyClient:
    """A 2024-11-05 client through nginx: its stream read in a thread, its POSTs noting
    which replica served each (nginx's `x-upstream`)."""

    def __init__(self, stack: StackProcess, server_id: str, token: str) -> None:
        self._http = httpx.Client(
            base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30
        )
        self._url = f"/servers/{server_id}/sse"
        self._events: queue.Queue = queue.Queue()
        self._opened = threading.Event()
        self.stream_replica = ""
        self.endpoint = ""
        self.posted_to: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> LegacyClient:
        self._reader.start()
        kind, self.endpoint = self._events.get(timeout=WAIT_S)
        assert kind == "endpoint", (kind, self.endpoint)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.close()
        self._reader.join(timeout=5)

    def _read(self) -> None:
        try:
            with self._http.stream("GET", self._url, timeout=httpx.Timeout(30, read=None)) as stream:
                assert stream.status_code == 200
                self.stream_replica = stream.headers.get("x-upstream", "")
                event, data = "message", []
                for line in stream.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        payload = "\n".join(data)
                        self._events.put((event, orjson.loads(payload) if event == "message" else payload))
                        event, data = "message", []
        except httpx.HTTPError:
            pass  # the stream is gone: the tests notice by what no longer comes
        finally:
            self._events.put(("closed", None))

    def post(self, message: dict) -> httpx.Response:
        response = self._http.post(self.endpoint, content=orjson.dumps(message))
        self.posted_to.append(response.headers.get("x-upstream", ""))
        return response

    def send(self, message: dict) -> None:
        response = self.post(message)
        assert response.status_code == 202, response.text

    def next_message(self, wanted: Callable[[dict], bool]) -> dict:
        """The next message on the stream that `wanted` accepts (the others are dropped)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the stream did not bring the message in time"
            kind, message = self._events.get(timeout=left)
            assert kind != "closed", "the stream ended"
            if kind == "message" and wanted(message):
                return message

    def ping(self, id_: object) -> None:
        self.send({"jsonrpc": "2.0", "id": id_, "method": "ping"})
        assert self.next_message(_answers(id_))["result"] == {}

    def initialize(self, capabilities: dict | None = None) -> None:
        params = {
            "protocolVersion": "2024-11-05",
            "capabilities": capabilities or {},
            "clientInfo": {"name": "t"},
        }
        self.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
        assert self.next_message(_answers(0))["result"]["protocolVersion"] == "2024-11-05"
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})


@contextlib.contextmanager
def _client_beside_another(stack: StackProcess, server_id: str, token: str) -> Iterator[LegacyClient]:
    """A client, with another client's idle stream open beside it: nginx balances by open
    connections (least_conn), and with one stream on each replica it sends the client's
    POSTs to both in turn (with the client's stream alone, all would go to the other)."""
    with LegacyClient(stack, server_id, token) as client, LegacyClient(stack, server_id, token):
        yield client


def _answers(id_) -> Callable[[dict], bool]:
    return lambda message: "method" not in message and message.get("id") == id_


def _call(id_: int, tool: str, arguments: dict, meta: dict | None = None) -> dict:
    params = {"name": tool, "arguments": arguments, **({"_meta": meta} if meta else {})}
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params}


def test_calls_are_answered_on_the_stream_whichever_replica_gets_their_post(
    stack: StackProcess, server_id: str, token: str
) -> None:
    with _client_beside_another(stack, server_id, token) as client:
        client.initialize()
        for id_ in range(1, 7):
            client.send(_call(id_, "echo", {"text": f"call {id_}"}))
            answer = client.next_message(_answers(id_))
            assert answer["result"]["content"][0]["text"] == f"call {id_}"
        assert set(client.posted_to) == set(stack.replica_addresses("mcp-proxy"))
        assert client.stream_replica in stack.replica_addresses("mcp-proxy")


def test_an_elicitation_on_the_stream_is_answered_through_either_replica(
    stack: StackProcess, server_id: str, token: str
) -> None:
    answered_via: set[str] = set()
    with _client_beside_another(stack, server_id, token) as client:
        client.initialize({"elicitation": {}})
        for id_ in range(1, 9):
            if id_ % 2 == 0:
                client.ping(f"shift {id_}")  # two POSTs a round: this one shifts them to the other replica
            client.send(_call(id_, "elicit", {"question": "Name?"}))
            asked = client.next_message(lambda m: m.get("method") == "elicitation/create")
            client.send(
                {
                    "jsonrpc": "2.0",
                    "id": asked["id"],
                    "result": {"action": "accept", "content": {"name": f"Ada {id_}"}},
                }
            )
            answered_via.add(client.posted_to[-1])
            assert client.next_message(_answers(id_))["result"]["content"][0]["text"] == f"accept: Ada {id_}"
            if answered_via == set(stack.replica_addresses("mcp-proxy")):
                return
    pytest.fail(f"the answers all went through {answered_via}")


def test_a_cancellation_through_either_replica_stops_the_call(
    stack: StackProcess, server_id: str, token: str
) -> None:
    cancelled_via: set[str] = set()
    with _client_beside_another(stack, server_id, token) as client:
        client.initialize()
        for round_ in range(6):
            if round_ % 2 == 1:
                client.ping(f"shift {round_}")
            doomed, witness = 100 + 2 * round_, 101 + 2 * round_
            token_ = f"p{round_}"
            client.send(_call(doomed, "progress", {"steps": 10, "delay": 0.2}, {"progressToken": token_}))
            client.next_message(lambda m: m.get("method") == "notifications/progress")  # in flight
            client.send(
                {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": doomed}}
            )
            cancelled_via.add(client.posted_to[-1])
            # Started after the cancellation, it ends after the cancelled call would have.
            client.send(_call(witness, "slow", {"seconds": 2.5}))
            ends = (doomed, witness)
            seen = client.next_message(lambda m, ends=ends: m.get("id") in ends and "method" not in m)
            assert seen["id"] == witness, f"the cancelled call was answered: {seen}"
            if cancelled_via == set(stack.replica_addresses("mcp-proxy")):
                return
    pytest.fail(f"the cancellations all went through {cancelled_via}")


def test_posts_after_the_streams_replica_died_find_no_session(
    stack: StackProcess, server_id: str, token: str
) -> None:
    with _client_beside_another(stack, server_id, token) as client:
        client.initialize()
        addresses = stack.replica_addresses("mcp-proxy")
        holder = addresses.index(client.stream_replica)
        victim = next(p for p in stack.state["processes"] if p["name"] == f"mcp-proxy-{holder + 1}")
        os.kill(victim["pid"], signal.SIGKILL)
        survivor = stack.replica_urls("mcp-proxy")[1 - holder]
        ping = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
        deadline = time.monotonic() + 5
        while True:
            status = httpx.post(
                f"{survivor}{client.endpoint}",
                content=ping,
                headers={"authorization": f"Bearer {token}"},
                timeout=10,
            ).status_code
            if status == 404:
                break
            assert status == 202, status
            assert time.monotonic() < deadline, "the other replica still accepts POSTs for a dead stream"
            time.sleep(0.05)
