"""Shared runtime for Switchboard services.

Public modules: `settings`, `errors`, `db`, `telemetry`, `grpc`, `http`, `principals`,
`service`, `resilience`. Nothing here connects at import time.
"""
