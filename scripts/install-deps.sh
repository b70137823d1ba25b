#!/usr/bin/env bash
# Installs every Debian 12 package otaswarm needs to build and test. Idempotent:
# does nothing (and needs no network) when all packages are already present.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config g++ clang libclang-rt-14-dev
  # Boost 1.74: Debian 12's default, and the Boost libtorrent-rasterbar-dev is built against
  # (docs/dependencies.md); JSON is nlohmann-json's.
  libboost1.74-dev libboost-system1.74-dev nlohmann-json3-dev libtorrent-rasterbar-dev
  libhiredis-dev libssl-dev libtomlplusplus-dev libmaxminddb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # real components the tests start
  redis-server coturn python3-libtorrent aria2 transmission-cli opentracker
  mmdb-bin libmaxmind-db-writer-perl prometheus iproute2 iptables
  gnuplot-nox curl ca-certificates python3 chromium openssl
  # helm and browser tests: unzip (helm from npm), python3-yaml (rendered manifests)
  unzip python3-yaml
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js may come from another packaging (e.g. NodeSource's nodejs bundles npm and conflicts
# with Debian's npm): only ask Debian for it when there is no node/npm at all.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present" >&2
  exit 0
fi

# Boost 1.81's -dev packages conflict with 1.74's: a machine that has them (an older otaswarm
# checkout installed them) gets them removed in the same apt-get call.
conflicting=()
while read -r p; do
  [ -n "$p" ] && conflicting+=("$p-")
done < <(dpkg-query -W -f='${Package} ${Status}\n' 'libboost*1.81-dev' 2>/dev/null | awk '/install ok installed/ {print $1}')

echo "install-deps: installing ${missing[*]}${conflicting:+ (removing ${conflicting[*]})}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" "${conflicting[@]}"
