#!/usr/bin/env bash
# Validates the Kubernetes manifests under examples/kubernetes against the Kubernetes API's
# schemas (strict: unknown fields fail), with kubernetes-validate from PyPI installed into
# .venv-k8s. Works offline once installed: the schemas ship with the package.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.37.0
VENV=.venv-k8s
BIN="$VENV/bin/kubernetes-validate"
if ! "$BIN" --version 2>/dev/null | grep -qx "$VERSION"; then
  echo "installing kubernetes-validate $VERSION into $VENV ..." >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$VERSION"
fi
"$BIN" --strict --quiet examples/kubernetes/*.yaml
echo "examples/kubernetes: $(ls examples/kubernetes/*.yaml | wc -l) manifests valid (Kubernetes $VERSION schemas, strict)"
