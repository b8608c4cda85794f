#!/usr/bin/env bash
# Debian packages the tests (and, with --bench, the benchmarks) need, installed with apt-get when
# missing. Needs root; without it, prints what to install and exits 0 (tests that need a package
# are then skipped, except under CI=true, where they fail).
#   tests: a real WordPress peer (wordpress, mariadb-server, php-cli with gd, mysql, exif, curl, xml,
#          mbstring, intl)
#   bench: rclone (the baseline) and plasma-workspace-wallpapers (real photographs)
set -euo pipefail
packages=(wordpress mariadb-server php-cli php-gd php-mysql php-curl php-xml php-mbstring php-intl)
if [[ "${1:-}" == "--bench" ]]; then
    packages+=(rclone plasma-workspace-wallpapers)
fi
lacking=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || lacking+=("$package")
done
if [[ ${#lacking[@]} -eq 0 ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages: ${lacking[*]} (install them as root: apt-get install ${lacking[*]})" >&2
    exit 0
fi
echo "installing Debian packages: ${lacking[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# The tests start their own MariaDB and PHP; any service these packages start is not used.
apt-get install -y -q --no-install-recommends "${lacking[@]}" >/dev/null
