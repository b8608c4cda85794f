# gcs2s3 as one container run per schedule tick (ECS Fargate). See docs in README "Run it on AWS".
#
#   make image                      # Debian's podman, the base made with mmdebstrap (no registry needed)
#   docker build -t gcs2s3 .        # Docker, the base pulled as debian:bookworm-slim
#
# The base is Debian bookworm with the packages of deploy/image/base-packages.txt (Python 3.11, venv,
# CA certificates, tini as PID 1). `make image` builds that base from Debian's packages and passes it
# as BASE; from debian:bookworm-slim the first step installs the same packages with apt.
# Settings: DevLevel=Stage|Prod and GCS2S3_CONFIG (s3://BUCKET/KEY read with the task role, or a
# mounted path; default /app/primary.ini). Secrets only from the environment (GCS2S3_GCS_KEY_JSON, and
# when used GCS2S3_WORDPRESS_APP_PASSWORD, GCS2S3_NOTIFY_WEBHOOK_URL). The build context never holds
# primary.ini or key/ (.dockerignore). The root filesystem may be read-only: only $TMPDIR is written.

ARG BASE=debian:bookworm-slim

FROM ${BASE} AS base
COPY deploy/image/base-packages.txt /usr/local/share/gcs2s3-base-packages.txt
RUN packages="$(cat /usr/local/share/gcs2s3-base-packages.txt)"; \
    if ! dpkg-query -W $packages >/dev/null 2>&1; then \
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages \
      && rm -rf /var/lib/apt/lists/*; \
    fi

FROM base AS build
# EXTRAS=cluster adds dask.distributed, for an image that serves as Dask scheduler and workers too.
ARG EXTRAS=""
# A CA bundle for pip (a TLS-inspecting proxy between the build and the package index), mounted by
# the builder; empty: the image's own CA certificates.
ARG PIP_CERT=""
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Every dependency from a binary wheel (libvips comes inside pyvips-binary), but pyvips itself, which is
# published as source only and builds as pure Python: nothing is compiled, and the final stage gets
# the finished virtual environment only.
RUN python3 -m venv /opt/gcs2s3 \
 && pip() { /opt/gcs2s3/bin/pip --disable-pip-version-check --no-cache-dir ${PIP_CERT:+--cert "$PIP_CERT"} "$@"; } \
 && pip wheel --no-deps --wheel-dir /wheels . \
 && pip install --only-binary=:all: --no-binary=pyvips "$(ls /wheels/gcs2s3-*.whl)${EXTRAS:+[$EXTRAS]}" \
 && pip uninstall --yes pip setuptools \
 && /opt/gcs2s3/bin/python -m compileall -q /opt/gcs2s3 >/dev/null

FROM base
# The build stamp --version shows beside the package version (make image passes the git commit).
ARG BUILD=""
RUN useradd --system --uid 10001 --no-create-home --home-dir /tmp gcs2s3 && mkdir /app
COPY --from=build /opt/gcs2s3 /opt/gcs2s3
COPY template_primary.ini /app/template_primary.ini
ENV PATH=/opt/gcs2s3/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    GCS2S3_CONFIG=/app/primary.ini \
    GCS2S3_BUILD=${BUILD}
WORKDIR /app
USER 10001:10001
# tini as PID 1 forwards SIGTERM to gcs2s3 and reaps any process left without a parent; the command
# is sync by default, any other gcs2s3 arguments replace it (`docker run IMAGE --version`, `… plan`).
ENTRYPOINT ["/usr/bin/tini", "--", "gcs2s3"]
CMD ["sync"]
