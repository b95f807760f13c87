# greenbar's own service image: the web API, the Celery worker, beat and Flower, one image for
# all four (docker-compose.yml gives each its Procfile command). It is not a sandbox image: runs
# use the allowlisted images on the node's Docker engine.
#
# It runs as the unprivileged user `greenbar` (uid 10001). Only the worker, which needs the
# node's Docker socket, runs as root, set in docker-compose.yml (see why there).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Installed into site-packages from a build folder that is removed afterwards: the image holds
# the package, its dependencies and nothing of the work tree.
WORKDIR /build
COPY pyproject.toml ./
COPY app ./app
COPY tasks ./tasks
COPY web ./web
COPY supervisor ./supervisor
RUN pip install . \
    && apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && python supervisor/build.py \
    && install -D -m 0555 build/greenbar-supervisor /usr/local/lib/greenbar/greenbar-supervisor \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
    && rm -rf /build
# The static supervisor every run container starts with (see supervisor/supervisor.h).
ENV GREENBAR_SUPERVISOR_BINARY=/usr/local/lib/greenbar/greenbar-supervisor

RUN groupadd --system --gid 10001 greenbar \
    && useradd --system --uid 10001 --gid greenbar --home-dir /srv/greenbar \
        --shell /usr/sbin/nologin greenbar \
    && mkdir -p /srv/greenbar/.run /srv/greenbar/scripts \
    && chown greenbar:greenbar /srv/greenbar/.run
COPY scripts/flower.sh /srv/greenbar/scripts/flower.sh

# GET /sha answers this; the image has no git to ask. Build with
# `--build-arg GREENBAR_SHA=$(git rev-parse HEAD)` (compose passes GREENBAR_SHA on).
ARG GREENBAR_SHA=
ENV GREENBAR_SHA=${GREENBAR_SHA}

# The commands' relative paths (beat's .run/celerybeat-schedule, scripts/flower.sh) are the
# Procfile's, relative to this folder.
WORKDIR /srv/greenbar
USER greenbar
EXPOSE 4587 5555
