#!/usr/bin/env bash
# Datadog's ddapm-test-agent, installed into .venv-agent (PyPI, no Docker).
#   scripts/test-agent.sh install            install it if it is missing or broken
#   scripts/test-agent.sh run DIR PORT       run it on 127.0.0.1:PORT and DIR/apm.socket (foreground)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.69.1
VENV=.venv-agent
BIN="$VENV/bin/ddapm-test-agent"

install() {
  if "$BIN" --version >/dev/null 2>&1; then
    return 0
  fi
  echo "installing ddapm-test-agent $VERSION into $VENV ..." >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "ddapm-test-agent==$VERSION"
  "$BIN" --version >/dev/null
}

case "${1:-}" in
  install) install ;;
  run)
    install
    dir=$2 port=$3
    mkdir -p "$dir"
    # Header checks are off by default; the --enabled-checks flag does not work in 1.69.
    ENABLED_CHECKS=trace_count_header,meta_tracer_version_header,trace_content_length \
      exec env -u DD_TRACE_AGENT_URL "$BIN" --port "$port" \
      --otlp-http-port "$((port + 1))" --otlp-grpc-port "$((port + 2))" \
      --trace-uds-socket "$dir/apm.socket" --snapshot-dir "$dir/snapshots"
    ;;
  *) echo "usage: $0 install | run DIR PORT" >&2; exit 2 ;;
esac
