#!/usr/bin/env bash
# Brings up greenbar's whole local stack on a Debian machine, as root: installs what is missing
# (docker.io, redis-server, debootstrap, busybox-static, a venv), starts dockerd and Redis when
# they are not running, builds the bundled images, then starts every Procfile process and waits
# until the API is ready.   Usage: scripts/stack.sh [up|stop]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

export GREENBAR_REDIS_URL=${GREENBAR_REDIS_URL:-redis://127.0.0.1:6379/0}
export GREENBAR_PORT=${GREENBAR_PORT:-4587}
export GREENBAR_FLOWER_PORT=${GREENBAR_FLOWER_PORT:-5555}
# The bundled images are built on this machine, not pulled from a registry: scheduled pulls of
# them could only fail. Set GREENBAR_PULLS_ENABLED=true when the allowlist names registry images.
export GREENBAR_PULLS_ENABLED=${GREENBAR_PULLS_ENABLED:-false}

stop_processes() {
  local pidfile
  for pidfile in "$RUN_DIR"/proc-*.pid; do
    [ -e "$pidfile" ] || continue
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

# Every Procfile process under honcho, which stops them all when one of them exits. A stack
# being stopped may still hold the ports for a moment: wait for them first, as honcho would
# otherwise stop the new stack at once when its web or Flower could not bind.
start_processes() {
  local port
  for port in "$GREENBAR_PORT" "$GREENBAR_FLOWER_PORT"; do
    for _ in $(seq 1 100); do port_free "$port" && break; sleep 0.1; done
    port_free "$port" || die "port $port is in use"
  done
  say "starting the Procfile's processes with honcho (log: $RUN_DIR/honcho.log)"
  setsid "$VENV/bin/honcho" start --no-colour >"$RUN_DIR/honcho.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/proc-honcho.pid"
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_until_ready() {
  local url=http://127.0.0.1:$GREENBAR_PORT
  for _ in $(seq 1 120); do
    if curl -fsS "$url/ready" >/dev/null 2>&1; then
      say "Flower is at http://127.0.0.1:$GREENBAR_FLOWER_PORT"
      say "greenbar is ready at $url"
      echo "$url"
      return
    fi
    kill -0 "$(cat "$RUN_DIR/proc-honcho.pid")" 2>/dev/null ||
      die "the stack stopped while starting: see $RUN_DIR/honcho.log"
    sleep 0.5
  done
  curl -sS "$url/ready" >&2 || true
  die "the stack did not become ready within 60 s: see $RUN_DIR/*.log"
}

case "${1:-up}" in
  stop) stop_processes; say "stopped" ;;
  up)
    ensure_packages
    ensure_venv
    [ "${GREENBAR_RUNTIME:-runc}" != runsc ] || ensure_runsc  # before dockerd starts
    ensure_dockerd
    if [[ "$GREENBAR_REDIS_URL" =~ ^redis://(127\.0\.0\.1|localhost):([0-9]+) ]]; then
      ensure_redis "${BASH_REMATCH[2]}"
    fi
    build_images
    stop_processes
    start_processes
    wait_until_ready
    ;;
  *) die "usage: $0 [up|stop]" ;;
esac
