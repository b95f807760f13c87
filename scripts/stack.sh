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

start_processes() {
  local name command
  while IFS=: read -r name command; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    say "starting $name (log: $RUN_DIR/$name.log)"
    setsid bash -c "exec $command" >"$RUN_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/proc-$name.pid"
  done <Procfile
}

wait_until_ready() {
  local url=http://127.0.0.1:$GREENBAR_PORT
  for _ in $(seq 1 120); do
    if curl -fsS "$url/ready" >/dev/null 2>&1; then
      say "greenbar is ready at $url"
      echo "$url"
      return
    fi
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
