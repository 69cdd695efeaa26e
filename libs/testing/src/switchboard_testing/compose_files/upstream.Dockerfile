# The app image with the fixture upstream MCP server (switchboard_testing.upstream_server)
# beside it: the test package and the SDK it serves with are not in the app image (they
# are development dependencies), so they are installed at the lock's versions into a
# directory of their own on PYTHONPATH, for the app image's own interpreter.
ARG BASE_IMAGE
ARG APP_IMAGE
FROM ${BASE_IMAGE} AS build
COPY requirements.txt /src/requirements.txt
# Every version pinned by the lock (uv export), so pip resolves nothing.
RUN python3 -m venv /opt/pip \
    && /opt/pip/bin/pip install --quiet --no-cache-dir --disable-pip-version-check --no-deps \
        --target /opt/fixtures --requirement /src/requirements.txt
COPY switchboard_testing /opt/fixtures/switchboard_testing

FROM ${APP_IMAGE}
COPY --from=build /opt/fixtures /opt/fixtures
ENV PYTHONPATH=/opt/fixtures
ENTRYPOINT ["python3", "-m", "switchboard_testing.upstream_server"]
CMD ["--host", "0.0.0.0", "--port", "9100"]
HEALTHCHECK --interval=1s --timeout=3s --retries=30 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9100/healthz', timeout=2)"]
