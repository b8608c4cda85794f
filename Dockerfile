# gcs2s3 as one container run per schedule tick (ECS Fargate). Settings: DevLevel=Stage|Prod and the
# settings file named by GCS2S3_CONFIG: s3://BUCKET/KEY (read with the task role; no derived image) or
# a path (default /app/primary.ini, mounted there). The build context never holds primary.ini or key/
# (.dockerignore). Secrets from the environment (GCS2S3_GCS_KEY_JSON, and only when those features are
# used GCS2S3_WORDPRESS_APP_PASSWORD, GCS2S3_NOTIFY_WEBHOOK_URL).
#
#   docker build --platform linux/amd64 -t gcs2s3 .
#   docker run --rm -e DevLevel=Stage -v $PWD/primary.ini:/app/primary.ini:ro gcs2s3

FROM python:3.12-slim AS build
# EXTRAS=cluster adds dask.distributed, for an image that serves as Dask scheduler and workers too.
ARG EXTRAS=""
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Every dependency from a binary wheel (libvips comes inside pyvips-binary), but pyvips itself, which is
# published as source only and builds as pure Python: nothing is compiled, and the final stage gets
# the finished virtual environment only.
RUN python -m venv /opt/gcs2s3 \
 && /opt/gcs2s3/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/gcs2s3/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && /opt/gcs2s3/bin/pip install --no-cache-dir --only-binary=:all: --no-binary=pyvips \
      "$(ls /wheels/gcs2s3-*.whl)${EXTRAS:+[$EXTRAS]}"

FROM python:3.12-slim
RUN useradd --system --uid 10001 --create-home --home-dir /home/gcs2s3 gcs2s3 \
 && mkdir /app && chown gcs2s3 /app
COPY --from=build /opt/gcs2s3 /opt/gcs2s3
COPY template_primary.ini /app/template_primary.ini
ENV PATH=/opt/gcs2s3/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GCS2S3_CONFIG=/app/primary.ini
WORKDIR /app
USER 10001
ENTRYPOINT ["gcs2s3", "sync"]
