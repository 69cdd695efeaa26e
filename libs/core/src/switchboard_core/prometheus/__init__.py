"""Prometheus metrics of a Switchboard process (prometheus-client).

`catalogue` defines every metric the gateway exports, in one place, with its labels;
`bounded` caps the label values a caller can cause (server and tool names);
`loop_histogram` is the lock-free histogram of what every request observes on the event
loop; `exposition` renders the process's registry for a scrape (`GET /internal/metrics` on
each process's HTTP port: nginx never routes `/internal/`, so scrapes reach a replica
directly, from any host, and the metrics service's JSON API under `/metrics/` is left
alone).

Why prometheus-client and not OpenTelemetry metrics: a labelled observation is a dict
lookup and a float add under a lock (about a microsecond), where the OpenTelemetry SDK
builds attribute sets and aggregations per call (several times that); and Prometheus is
what the operators this gateway is for scrape. Traces stay OpenTelemetry.

One registry per process (the library's default), held at module level like
`counters.COUNTERS`: the places that observe are built in different layers with no
handle in common, and a process's metrics are the process's whatever services it hosts.
Nothing here does I/O.
"""
