"""The process's log: JSON lines or a human format (`formats`), what no line may show
(`redaction`), the set-up the entrypoint calls once (`setup`), and the per-request
access log (`access`)."""

from switchboard_core.logs.access import AccessLog, with_access_log
from switchboard_core.logs.formats import JsonFormatter, TextFormatter
from switchboard_core.logs.redaction import redact
from switchboard_core.logs.setup import configure_logging, replica_name

__all__ = [
    "AccessLog",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "redact",
    "replica_name",
    "with_access_log",
]
