#!/usr/bin/env bash
# Build the gcs2s3 image with Debian's podman, no registry needed: the base (Debian bookworm with the
# packages of deploy/image/base-packages.txt) is made with mmdebstrap from the Debian mirror apt already
# uses, imported once per package list, and passed to the Dockerfile as BASE.
#   scripts/build_image.sh [TAG]          (default gcs2s3:latest; prints the tag when done)
# Needs root (or rootless podman set up) and: apt-get install podman buildah mmdebstrap runc.
# Environment: CONTAINER_RUNTIME (default runc: crun fails on hosts with hybrid cgroups),
#              EXTRAS (cluster: add dask.distributed), PIP_CERT (a CA bundle for pip, for a build
#              behind a TLS-inspecting proxy; default: the host's, when its pip is told to use one).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-gcs2s3:latest}"
runtime="${CONTAINER_RUNTIME:-runc}"
for tool in podman mmdebstrap; do
    command -v "$tool" >/dev/null || { echo "build_image: $tool is missing (apt-get install podman buildah mmdebstrap runc)" >&2; exit 2; }
done
sources=""
for candidate in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [[ -s "$candidate" ]] && sources="$candidate" && break
done
[[ -n "$sources" ]] || { echo "build_image: no Debian apt sources found (/etc/apt/sources.list.d/debian.sources)" >&2; exit 2; }

packages=$(grep -v '^#' deploy/image/base-packages.txt | tr -s ' \n' ' ')
base="localhost/gcs2s3-base:bookworm-$(sha256sum deploy/image/base-packages.txt | cut -c1-12)"
if ! podman image exists "$base"; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    echo "build_image: making the base $base with mmdebstrap (bookworm: $packages)" >&2
    mmdebstrap --quiet --variant=minbase --include="${packages// /,}" \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        bookworm "$work/base.tar" "$sources" >&2
    podman import --quiet "$work/base.tar" "$base" >/dev/null
fi

cert="${PIP_CERT:-}"
if [[ -z "$cert" ]]; then
    cert=$(pip3 config get global.cert 2>/dev/null || true)
fi
mounts=()
if [[ -n "$cert" && -f "$cert" ]]; then
    mounts=(--volume "$(realpath "$cert"):/run/build-ca.pem:ro" --build-arg PIP_CERT=/run/build-ca.pem)
fi
build=$(git describe --always --dirty 2>/dev/null || echo unknown)
podman build --quiet --runtime "$runtime" --network host --pull=never \
    --build-arg BASE="$base" --build-arg BUILD="$build" --build-arg EXTRAS="${EXTRAS:-}" \
    "${mounts[@]}" --tag "$tag" . >&2
# The build stage's image and a previous build of this tag are left untagged: remove them, so that
# repeated builds (each test run makes one) do not fill the disk.
podman image prune --force >/dev/null
echo "$tag"
