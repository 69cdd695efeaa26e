"""Debian's PgBouncer exporter (prometheus-pgbouncer-exporter 1.7), made to run against
PgBouncer 1.8 and later (Debian bookworm ships 1.18).

The packaged exporter reads `total_requests` from `SHOW STATS`, a column PgBouncer 1.8
renamed `total_query_count`: as packaged it exits at start with `KeyError:
'total_requests'`. This runs it with the new column read under the same metric name
(`pgbouncer_requests_total`), everything else as packaged. Run it with the system
Python that has the package, and the exporter's own arguments:

    PGPASSWORD=... python3 pgbouncer_exporter.py --host 0.0.0.0 --port 9127 \\
        --pgbouncer-host pgbouncer --pgbouncer-port 6432 --pgbouncer-user switchboard

The user must be in PgBouncer's `stats_users` (or `admin_users`).
"""

import sys

from prometheus_pgbouncer_exporter import cli, collectors

metrics = dict(collectors.StatsCollector.metrics)
if "total_requests" in metrics:
    metrics["total_query_count"] = metrics.pop("total_requests")
collectors.StatsCollector.metrics = metrics
sys.argv[0] = "prometheus-pgbouncer-exporter"
sys.exit(cli.main())
