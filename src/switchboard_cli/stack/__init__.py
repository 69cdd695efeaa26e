"""`switchboard stack`: the distributed shape of Switchboard on one machine.

Postgres behind PgBouncer, Redis, N replicas of every service and nginx in front, as
plain processes on loopback, started from the installed binaries (docs/deployment.md).

    up.py          orders the start, prints the banner, stops everything
    topology.py    where each process listens (`stack.json`)
    processes.py   the supervisor: process groups, logs, stop order
    postgres.py, pgbouncer.py, redis.py, nginx.py, services.py   one kind of process each
    binaries.py, accounts.py, credentials.py, readiness.py       what they share

The test harness (switchboard_testing) reuses these modules; nothing here imports it.
"""
