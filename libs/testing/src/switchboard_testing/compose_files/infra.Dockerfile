# Stand-ins for the public images deploy/compose/compose.yaml names (postgres, pgbouncer,
# redis, nginx), which no registry here can serve: one image from the debootstrap base
# with Debian's packages, and an entrypoint per role speaking the same environment
# variables as those images (POSTGRES_*, PgBouncer's DB_* and friends).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# Unpinned: whatever bookworm has now, as the machine's own packages; a pin would break
# at the next point release, and these images only stand in for tests.
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql-15 pgbouncer redis-server nginx libnginx-mod-http-brotli-filter curl \
    && rm -rf /var/lib/apt/lists/*
COPY infra-entrypoint /usr/local/bin/infra-entrypoint
