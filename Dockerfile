# syntax=docker/dockerfile:1

# --- build: install the project and its dependencies into a virtualenv -----------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

# --- runtime: the virtualenv, the migrations, a non-root user -------------------------
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CCAPI_ENV=production \
    CCAPI_DATA_DIR=/data \
    CCAPI_PORT=8000

RUN groupadd --system --gid 10001 ccapi \
    && useradd --system --uid 10001 --gid ccapi --create-home --home-dir /home/ccapi ccapi \
    && mkdir -p /data \
    && chown ccapi:ccapi /data

COPY --from=builder /opt/venv /opt/venv

# app/core/migrations.py finds alembic.ini (and app/core/docs.py openapi.md) in the working
# directory of a plain install.
WORKDIR /srv/ccapi
COPY alembic.ini ./
COPY alembic ./alembic
# The integrator's guide, served at /guide.
COPY openapi.md ./

USER ccapi
# Embedded PostgreSQL's data when DATABASE_URL is unset.
VOLUME ["/data"]
EXPOSE 8000

# No curl in the slim image: the standard library does it. A non-2xx or no answer fails.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CCAPI_PORT', '8000'), timeout=4)"]

CMD ["ccapi", "serve", "--host", "0.0.0.0"]
