# The image of every process of the project: `lifecycles worker` (default), `lifecycles api`,
# `lifecycles db upgrade`. See docker-compose.yml and docs/deploy-compose.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The runtime lock first (its layer is cached while only the code changes): every package at
# the version `make lock` resolved, the same as the dev environment's (tests/test_lock.py).
COPY requirements/runtime.lock /tmp/runtime.lock
RUN pip install -r /tmp/runtime.lock && rm /tmp/runtime.lock

# Only what `pip install .` needs (README.md: pyproject's `readme`); tests and tooling stay out.
COPY pyproject.toml README.md /tmp/src/
COPY workflows /tmp/src/workflows
COPY activities /tmp/src/activities
COPY workers /tmp/src/workers
COPY models /tmp/src/models
COPY api /tmp/src/api
COPY scripts /tmp/src/scripts
RUN pip install --no-deps /tmp/src \
    && pip check \
    && rm -rf /tmp/src \
    && useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin lifecycles

# Non-root, numeric so that runAsNonRoot-style checks can verify it.
USER 10001:10001
WORKDIR /home/lifecycles

# In a container, listen on all interfaces (the defaults of settings.py are 127.0.0.1).
ENV LIFECYCLES_METRICS_BIND=0.0.0.0:9464 \
    LIFECYCLES_API_BIND=0.0.0.0:8000 \
    LIFECYCLES_LOG_FORMAT=json
EXPOSE 8000 9464

# Exec form: the process gets SIGTERM itself and drains (LIFECYCLES_GRACEFUL_SHUTDOWN_SECONDS).
CMD ["lifecycles", "worker"]
