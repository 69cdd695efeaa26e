"""A Redis client making one CLIENT span per command, or per pipeline, inside a trace.

Only command names are recorded, never keys or values (a key may name a session or a
token's digest, a value may hold anything): `db.system=redis`, `db.operation` (the
command, upper case, or `PIPELINE`/`MULTI`), and for a pipeline the names of the
commands it carried (`db.redis.commands`). `redis_client.make_client` makes this
client instead of the plain counted one when tracing is on.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Tracer
from redis.asyncio.client import Pipeline

from switchboard_core.shared.counted_redis import CountedPipeline, CountedRedis
from switchboard_core.tracing.inside import inside_a_trace

_TRACER = trace.get_tracer(__name__)
# A pipeline of more commands than this lists the first ones only.
MAX_PIPELINE_NAMES = 32


def command_name(args: tuple[Any, ...]) -> str:
    if not args:
        return ""
    name = args[0]
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return str(name).upper()


class TracedRedis(CountedRedis):
    """`tracer` may be replaced per client (tests give their own provider's)."""

    tracer: Tracer = _TRACER

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if not inside_a_trace():
            return await super().execute_command(*args, **options)
        name = command_name(args)
        with self.tracer.start_as_current_span(
            name or "REDIS",
            kind=trace.SpanKind.CLIENT,
            attributes={"db.system": "redis", "db.operation": name},
        ):
            return await super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipeline = TracedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipeline.tracer = self.tracer
        return pipeline


class TracedPipeline(CountedPipeline):
    tracer: Tracer = _TRACER

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack or not inside_a_trace():
            return await super().execute(raise_on_error)
        operation = "MULTI" if self.is_transaction else "PIPELINE"
        names = [command_name(args) for args, _options in self.command_stack[:MAX_PIPELINE_NAMES]]
        with self.tracer.start_as_current_span(
            operation,
            kind=trace.SpanKind.CLIENT,
            attributes={
                "db.system": "redis",
                "db.operation": operation,
                "db.redis.commands": names,
                "db.operation.batch.size": len(self.command_stack),
            },
        ):
            return await super().execute(raise_on_error)
