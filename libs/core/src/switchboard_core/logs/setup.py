"""The process's logging, set up once by the entrypoint.

`SWITCHBOARD_LOG_FORMAT`: `json` (one event per line), `text` (for a person), or `auto`
(the default): text when stderr is a terminal, JSON otherwise, so `switchboard up` in a
shell reads well and anything collecting the output (the stack's children, a container)
gets JSON. `SWITCHBOARD_REPLICA` names the replica in every line; unset, the host name
(`HOSTNAME`: a pod's name in Kubernetes, a container's id in Docker).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import TextIO

from switchboard_core.logs.formats import JsonFormatter, TextFormatter

ACCESS_LOGGER = "switchboard.access"
# Libraries whose DEBUG lines quote what the gateway stores or sends (aiosqlite: every
# statement with its parameters, password hashes and sealed credentials among them;
# hpack: every header decoded): never below INFO, whatever the level asked.
AT_LEAST_INFO = ("aiosqlite", "hpack")


def replica_name(configured: str = "") -> str:
    return configured or os.environ.get("HOSTNAME", "") or socket.gethostname()


def chosen_format(setting: str, stream: TextIO) -> str:
    if setting != "auto":
        return setting
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(
    *,
    level: str,
    log_format: str,
    service: str,
    replica: str,
    access_log: bool = False,
    stream: TextIO | None = None,
) -> logging.Handler:
    """One handler on the root logger, writing `stream` (stderr) in the chosen format;
    returns it. The access log's lines are written at INFO whatever the level, when on."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    if chosen_format(log_format, stream) == "json":
        handler.setFormatter(JsonFormatter(service=service, replica=replica_name(replica)))
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in AT_LEAST_INFO:
        logging.getLogger(name).setLevel(max(root.level, logging.INFO))
    if access_log:
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)
    # A Python warning is one more event of the log, not a stray line of text in it.
    logging.captureWarnings(True)
    return handler
