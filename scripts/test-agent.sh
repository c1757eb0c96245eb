#!/usr/bin/env bash
# Datadog's ddapm-test-agent, installed into .venv-agent (PyPI, no Docker), and Python's
# ddtrace, the peer of the interop tests, installed into .venv-peer.
#   scripts/test-agent.sh install            install the agent if it is missing or broken
#   scripts/test-agent.sh install-peer       install ddtrace if it is missing or broken
#   scripts/test-agent.sh run DIR PORT       run the agent on 127.0.0.1:PORT and DIR/apm.socket (foreground)
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

PEER_VERSION=4.16.0
PEER_VENV=.venv-peer

install_peer() {
  if "$PEER_VENV/bin/python" -c "import ddtrace; assert ddtrace.__version__ == '$PEER_VERSION'" >/dev/null 2>&1; then
    return 0
  fi
  echo "installing ddtrace $PEER_VERSION into $PEER_VENV ..." >&2
  rm -rf "$PEER_VENV"
  python3 -m venv "$PEER_VENV"
  "$PEER_VENV/bin/pip" install --quiet --disable-pip-version-check "ddtrace==$PEER_VERSION"
  "$PEER_VENV/bin/python" -c "import ddtrace" >/dev/null
}

case "${1:-}" in
  install) install ;;
  install-peer) install_peer ;;
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
  *) echo "usage: $0 install | install-peer | run DIR PORT" >&2; exit 2 ;;
esac
