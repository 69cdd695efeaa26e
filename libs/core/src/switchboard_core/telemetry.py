"""OpenTelemetry set-up for the entrypoint, and W3C context helpers for the edges.

Library code only uses `opentelemetry.trace.get_tracer(__name__)`. `configure` is called
once by the entrypoint; it installs an SDK tracer provider exporting over OTLP when
the standard variables ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_TRACES_EXPORTER=otlp|console`), and
leaves the no-op provider otherwise so untraced deployments pay nothing.
"""

from __future__ import annotations

import os

from opentelemetry import trace


def tracing_requested() -> bool:
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if exporter == "none" or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(
        exporter
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure(service_name: str) -> trace.TracerProvider | None:
    """Install the SDK provider when tracing is requested; returns it (for shutdown)."""
    if not tracing_requested():
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp") == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider


def tracing_active() -> bool:
    """Whether an SDK tracer provider is installed. Hot paths ask once, at start, and
    skip context extraction and injection entirely when nothing records spans."""
    from opentelemetry.trace import ProxyTracerProvider

    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


def shutdown(provider: trace.TracerProvider | None) -> None:
    if provider is not None:
        provider.shutdown()
