#!/usr/bin/env bash
# System tools the test suite drives, installed from Debian when missing:
#   chromium  - the viewer's browser tests (Playwright on the system Chromium)
#   promtool  - `promtool check metrics` on the server's /metrics, and TSDB blocks for the
#               metric-source tests, which start `prometheus` itself (package `prometheus`)
#   initdb    - a real PostgreSQL for the run catalog tests (package `postgresql`; Debian keeps
#               its programs in /usr/lib/postgresql/<version>/bin, off PATH)
# Called by `make test` and by .ci/run, so both need nothing preinstalled.
set -euo pipefail
declare -A package=([chromium]=chromium [promtool]=prometheus [prometheus]=prometheus)
missing=()
for tool in "${!package[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package[$tool]}")
done
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "error: the tests need ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
    exit 1
  }
  sudo="sudo"
fi
echo "installing ${missing[*]} (Debian packages the tests need)…"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# prometheus and postgresql: only their programs (the tests start their own servers on free
# ports in temporary folders; a default service, if Debian starts one, is not used).
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
