#!/usr/bin/env bash
# Debian packages the demo, the tests and the benchmarks need, installed with apt-get when missing.
# Needs root; without it, prints what to install and exits 0 (tests that need a package are then
# skipped, except under CI=true, where they fail). Says what it installs, and why, before it does.
#   (default) a real WordPress peer for the demo and the tests: wordpress, mariadb-server, php-cli with
#             gd, mysql, curl, xml, mbstring, intl
#   --image   also the container tools the image test builds and runs the image with: podman, buildah,
#             mmdebstrap, runc
#   --bench   also rclone (the baseline) and plasma-workspace-wallpapers (real photographs)
set -euo pipefail
packages=(wordpress mariadb-server php-cli php-gd php-mysql php-curl php-xml php-mbstring php-intl)
why="a local WordPress for the demo and the tests"
for option in "$@"; do
    case "$option" in
        --image) packages+=(podman buildah mmdebstrap runc); why="$why, and the container tools for the image test" ;;
        --bench) packages+=(rclone plasma-workspace-wallpapers); why="$why, rclone and sample photographs for the benchmarks" ;;
        *) echo "install_system_packages: unknown option $option (--image, --bench)" >&2; exit 2 ;;
    esac
done
lacking=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || lacking+=("$package")
done
if [[ ${#lacking[@]} -eq 0 ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages (${why}): ${lacking[*]}" >&2
    echo "install them as root: apt-get install --no-install-recommends ${lacking[*]}" >&2
    exit 0
fi
echo "gcs2s3 needs Debian packages for ${why}; installing with apt-get, as root: ${lacking[*]}" >&2
if [[ -t 0 && -t 2 && "${CI:-}" != "true" ]]; then
    echo "(starting in 5 s; Ctrl-C to stop and install them yourself)" >&2
    sleep 5
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# The tests start their own MariaDB and PHP; any service these packages start is not used.
apt-get install -y -q --no-install-recommends "${lacking[@]}" >/dev/null
