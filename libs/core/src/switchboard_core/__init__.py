"""Shared runtime for Switchboard services.

Public modules: `settings`, `errors`, `db`, `telemetry`, `grpc`, `http`, `principals`,
`service`, `resilience`, `prometheus`. Nothing here connects at import time.
"""
