# pool-oracle container: installs only from the hashed lock files; no compilers in the final image.
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
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/pool-oracle oracle
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=oracle:oracle /opt/numba-cache /opt/numba-cache
ENV PATH=/opt/venv/bin:$PATH \
    NUMBA_CACHE_DIR=/opt/numba-cache \
    PYTHONUNBUFFERED=1
USER oracle
WORKDIR /var/lib/pool-oracle
ENTRYPOINT ["pool-oracle"]
CMD ["--help"]
