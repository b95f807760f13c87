# Shared by scripts/stack.sh and scripts/test.sh: install and start what greenbar needs on a
# Debian machine, as root, doing nothing that is already done. Source it; do not run it.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=$ROOT/.run
VENV=$ROOT/.venv
mkdir -p "$RUN_DIR"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian packages, each installed only when the command it brings is missing.
ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v git >/dev/null || missing+=(git)
  command -v docker-registry >/dev/null || missing+=(docker-registry)  # tests/cluster.py
  command -v gcc >/dev/null || missing+=(gcc)  # builds greenbar's sandbox supervisor
  dpkg -s libc6-dev >/dev/null 2>&1 || missing+=(libc6-dev)  # the supervisor is static
  command -v curl >/dev/null || missing+=(curl)
  command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 \
    || missing+=(docker-compose)  # tests/system/test_deploy.py checks docker-compose.yml with it
  command -v python3 >/dev/null || missing+=(python3)
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || die "installing ${missing[*]} needs root"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The interpreter the virtualenv is made from: the first Python 3.11+ whose tarfile has the fix
# for CVE-2024-6232 (a quadratic pax-header regex), Debian's before whatever is on PATH (a
# pyenv 3.11.7 has not). greenbar parses no untrusted archive with tarfile either way.
venv_python() {
  local candidate
  for candidate in /usr/bin/python3 "$(command -v python3)"; do
    "$candidate" -c 'import sys, tarfile, venv, ensurepip
sys.exit(sys.version_info < (3, 11) or not hasattr(tarfile, "_header_length_prefix_re"))' \
      2>/dev/null && { echo "$candidate"; return; }
  done
  command -v python3
}

# The virtualenv, made again when the interpreter chosen changes, reinstalled when
# pyproject.toml changes.
ensure_venv() {
  local stamp=$VENV/.pyproject.sha
  local want python
  python=$(venv_python)
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1) $python"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] \
    && [ "$(cut -d' ' -f2 "$stamp" 2>/dev/null)" != "$python" ]; then
    rm -rf "$VENV"  # made from another interpreter
  fi
  [ -x "$VENV/bin/python" ] || { say "creating $VENV with $python"; "$python" -m venv "$VENV"; }
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing greenbar and its dependencies into $VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[dev]" || die "pip install failed"
    echo "$want" >"$stamp"
  fi
}

# A Docker engine answering on DOCKER_HOST (default /var/run/docker.sock); started if not.
ensure_dockerd() {
  if docker_answers; then return; fi
  [ -z "${DOCKER_HOST:-}" ] || die "DOCKER_HOST=$DOCKER_HOST does not answer"
  say "starting dockerd (log: $RUN_DIR/dockerd.log)"
  setsid dockerd >"$RUN_DIR/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do docker_answers && return; sleep 0.5; done
  tail -20 "$RUN_DIR/dockerd.log" >&2
  die "dockerd did not start within 60 s"
}

# gVisor's runsc, for GREENBAR_RUNTIME=runsc: installed from Debian and registered in dockerd's
# configuration file (other keys kept), which a running dockerd reloads on SIGHUP and one started
# later by ensure_dockerd reads. --network=none: runsc refuses to start a container in the root
# network namespace otherwise (greenbar's sandboxes have no network anyway). Not --oci-seccomp:
# with it (runsc 20221219) a run cannot start a single thread; without it the container's
# seccomp profile does not apply inside gVisor, whose own kernel answers the run's system calls
# (namespaces, keyrings) and whose own filter guards the host's.
# GREENBAR_RUNSC_PLATFORM is gVisor's platform: ptrace works everywhere, kvm needs /dev/kvm.
ensure_runsc() {
  local platform=${GREENBAR_RUNSC_PLATFORM:-ptrace}
  if ! command -v runsc >/dev/null; then
    [ "$(id -u)" = 0 ] || die "installing runsc needs root"
    say "installing runsc (gVisor)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runsc >/dev/null
  fi
  local runtime
  runtime="{\"path\": \"$(command -v runsc)\","
  runtime+=" \"runtimeArgs\": [\"--network=none\", \"--platform=$platform\"]}"
  if ! docker_answers; then
    merge_json /etc/docker/daemon.json runtimes runsc "$runtime"  # ensure_dockerd's dockerd reads it
    return
  fi
  engine_has_runtime runsc "$runtime" && return
  [ -z "${DOCKER_HOST:-}" ] || die "the engine at DOCKER_HOST=$DOCKER_HOST has no runtime runsc"
  local pid config
  pid=$(cat /var/run/docker.pid 2>/dev/null) && [ "$(cat "/proc/$pid/comm")" = dockerd ] \
    || die "no dockerd at the pid in /var/run/docker.pid: cannot make it reload"
  config=$(dockerd_config_file "$pid")
  merge_json "$config" runtimes runsc "$runtime"
  say "making dockerd reload $config"
  kill -HUP "$pid"
  for _ in $(seq 1 50); do engine_has_runtime runsc "$runtime" && return; sleep 0.2; done
  die "dockerd did not take the runtime runsc from $config: see its log"
}

# The configuration file dockerd PID reads: its --config-file, or the default.
dockerd_config_file() {
  local arg take=
  while IFS= read -r -d '' arg; do
    [ -n "$take" ] && { echo "$arg"; return; }
    case $arg in
      --config-file=*) echo "${arg#--config-file=}"; return ;;
      --config-file) take=1 ;;
    esac
  done <"/proc/$1/cmdline"
  echo /etc/docker/daemon.json
}

# Sets FILE's KEY.NAME to the JSON VALUE, keeping every other key; writes only on a change.
merge_json() {
  python3 - "$@" <<'PY' || die "cannot update $1"
import json, os, sys
path, key, name, value = sys.argv[1:]
try:
    with open(path) as f:
        config = json.load(f)
except FileNotFoundError:
    config = {}
if config.get(key, {}).get(name) != json.loads(value):
    config.setdefault(key, {})[name] = json.loads(value)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".new", "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
    os.replace(path + ".new", path)
PY
}

# Whether the engine lists runtime NAME with the path and arguments of the JSON SPEC.
engine_has_runtime() {
  "$VENV/bin/python" - "$@" <<'PY' 2>/dev/null
import json, sys
import docker
name, spec = sys.argv[1], json.loads(sys.argv[2])
listed = docker.from_env(timeout=3).info().get("Runtimes", {}).get(name, {})
keys = ("path", "runtimeArgs")
sys.exit(0 if all(listed.get(k) == spec[k] for k in keys) else 1)
PY
}

docker_answers() {
  "$VENV/bin/python" - <<'PY' 2>/dev/null
import docker
docker.from_env(timeout=3).ping()
PY
}

# A Redis server on PORT, with an append-only file under .run/ so queued runs survive a restart.
ensure_redis() {
  local port=$1
  if redis-cli -p "$port" ping >/dev/null 2>&1; then return; fi
  say "starting redis-server on 127.0.0.1:$port"
  mkdir -p "$RUN_DIR/redis"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$RUN_DIR/redis" \
    --appendonly yes --appendfsync everysec --save "" --maxmemory-policy noeviction \
    --daemonize yes --logfile "$RUN_DIR/redis.log" --pidfile "$RUN_DIR/redis.pid"
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.1; done
  die "redis-server did not start"
}

build_images() {
  say "building the sandbox supervisor and the bundled images (cached by content hash)"
  "$VENV/bin/python" "$ROOT/supervisor/build.py" || die "supervisor build failed"
  "$VENV/bin/python" "$ROOT/images/build.py" || die "image build failed"
}
