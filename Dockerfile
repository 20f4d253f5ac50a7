# pool-oracle container: installs only from the hashed lock files; no compilers or build tools in the
# final image; runs as a non-root user; config and keys are mounted read-only, the journal on a volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements/ requirements/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes --no-deps \
      -r requirements/build.lock -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY oracle/ oracle/
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps --no-build-isolation . \
 && /opt/venv/bin/pip uninstall --yes setuptools wheel packaging
# Compile the hashing kernel once, into a cache the runtime user can refresh if its CPU differs.
ENV NUMBA_CACHE_DIR=/opt/numba-cache
RUN /opt/venv/bin/python -c "from oracle.ssz.hashing import warm_up; warm_up()"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/pool-oracle oracle \
 && mkdir -p /etc/pool-oracle \
 && chown oracle:oracle /var/lib/pool-oracle
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=oracle:oracle /opt/numba-cache /opt/numba-cache
COPY config/ /etc/pool-oracle/presets/
ENV PATH=/opt/venv/bin:$PATH \
    NUMBA_CACHE_DIR=/opt/numba-cache \
    PYTHONUNBUFFERED=1 \
    POOL_ORACLE_PRESET_DIR=/etc/pool-oracle/presets \
    POOL_ORACLE_SERVICE_METRICS_ADDRESS=0.0.0.0:9464 \
    POOL_ORACLE_SERVICE_JOURNAL_PATH=/var/lib/pool-oracle/journal.sqlite
USER oracle
WORKDIR /var/lib/pool-oracle
VOLUME ["/var/lib/pool-oracle"]
EXPOSE 9464
# The image has no curl: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["pool-oracle"]
CMD ["run", "--config", "/etc/pool-oracle/config.yaml"]
