"""Hostile programs through the real API and worker (issue 7, item 1), each followed by a probe
run that must succeed: whatever a run did, the next one on the same worker is unaffected.

The cases test_sandbox_security.py already covers (shell fork bomb, loops, sleeps, memory hogs,
a gibibyte of stdout, writes to / /etc /usr, symlinks, FIFOs, daemons, disk and inode floods)
are not repeated here.
"""

import base64
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from tests.helpers import remove_kata, run, wait_until

BUSYBOX = "greenbar/busybox-sh"
PYTHON = "greenbar/python-pytest"
LIMIT = 50 * 1024  # GREENBAR_OUTPUT_LIMIT_KIB
SAFETY_SECONDS = 2  # the most a run that must be stopped may take beyond its max_seconds
# Under gVisor (pytest --runtime runsc) the run talks to gVisor's kernel, not the host's: where a
# test expects something else there, it says what and why. Set by tests/conftest.py.
GVISOR = os.environ.get("GREENBAR_RUNTIME") == "runsc"
# Under gVisor the supervisor is pid 1: gVisor honours its subreaper only there (no docker-init).
PID_1 = "supervisor" if GVISOR else "docker-init"


def probe(api: Any) -> None:
    """The run after a hostile one: a plain busybox run that must be green."""
    result = run(api, {"cyber-dojo.sh": "echo PASSED"})
    assert result["outcome"] == "green", result
    assert result["stdout"]["content"] == "PASSED\n"


def timed_run(api: Any, files: dict[str, str], **fields: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = run(api, files, **fields)
    return result, time.monotonic() - started


def verdicts(text: str) -> dict[str, str]:
    """`name=value` lines (as the scripts below print them) as a dict; names may hold `=`."""
    return dict(line.rsplit("=", 1) for line in text.splitlines() if "=" in line)


@pytest.fixture
def katas(docker_client: docker.DockerClient, redis_url: str) -> Iterator[Callable[[], str]]:
    """Makes unique kata ids; every volume they got is removed afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(f"hostile-{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield make
    for kata in made:
        remove_kata(docker_client, redis_url, kata)


# Processes


PYTHON_FORK_BOMB = """\
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
"""

PYTHON_THREAD_BOMB = """\
import threading
import time

started = 0
try:
    while True:
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
        started += 1
except RuntimeError as error:
    print(f"threads={started}")
    print(f"error={error}")
"""


@pytest.mark.slow
def test_a_python_fork_bomb_ends_with_its_time_limit_and_the_next_run_works(api):
    files = {"cyber-dojo.sh": "python3 bomb.py", "bomb.py": PYTHON_FORK_BOMB}
    result, seconds = timed_run(api, files, image=PYTHON, max_seconds=3)
    assert seconds < 3 + SAFETY_SECONDS
    assert result["outcome"] == "timed_out", result["log"]
    probe(api)


def test_a_python_thread_bomb_is_stopped_by_the_process_limit_and_the_next_run_works(api):
    files = {"cyber-dojo.sh": "python3 bomb.py", "bomb.py": PYTHON_THREAD_BOMB}
    result, seconds = timed_run(api, files, image=PYTHON, max_seconds=5)
    assert seconds < 5 + SAFETY_SECONDS
    said = verdicts(result["stdout"]["content"])
    assert said.get("error") == "can't start new thread", (
        result["stdout"],
        result["stderr"],
        result["log"],
    )
    assert 0 < int(said["threads"]) < 128, "GREENBAR_PIDS_LIMIT counts threads too"
    probe(api)


def test_a_program_that_opens_files_until_emfile_ends_normally_and_the_next_run_works(api):
    script = (
        "import os\n"
        "fds = []\n"
        "try:\n"
        "    while True:\n"
        "        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
        "except OSError as error:\n"
        "    print(f'opened={len(fds)}')\n"
        "    print(f'error={error.strerror}')\n"
        "del fds\n"
        "print('after=still running')\n"
    )
    files = {"cyber-dojo.sh": "python3 fds.py; echo status=$?", "fds.py": script}
    result = run(api, files, image=PYTHON, max_seconds=5)
    assert result["outcome"] == "green", result["log"]
    said = verdicts(result["stdout"]["content"])
    assert said["error"] == "Too many open files"
    assert 1000 < int(said["opened"]) < 1024, "GREENBAR_ULIMIT_NOFILE is 1024"
    assert said["after"] == "still running"
    assert said["status"] == "0"
    probe(api)


def test_a_run_cannot_raise_its_own_hard_limits(api):
    script = (
        "import resource\n"
        "for name in ('NOFILE', 'FSIZE', 'CORE', 'STACK'):\n"
        "    limit = getattr(resource, 'RLIMIT_' + name)\n"
        "    soft, hard = resource.getrlimit(limit)\n"
        "    try:\n"
        "        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
        "        print(f'{name}=raised')\n"
        "    except (ValueError, OSError):\n"
        "        print(f'{name}=refused')\n"
    )
    result = run(api, {"cyber-dojo.sh": "python3 limits.py", "limits.py": script}, image=PYTHON)
    assert verdicts(result["stdout"]["content"]) == {
        "NOFILE": "refused",
        "FSIZE": "refused",
        "CORE": "refused",
        "STACK": "refused",
    }
    probe(api)


@pytest.mark.parametrize(
    "script",
    [
        "echo before; exec 1>&-; while :; do :; done",
        "echo before; exec 1>&- 2>&-; while :; do :; done",
    ],
    ids=["stdout", "stdout-and-stderr"],
)
def test_a_program_that_closes_its_output_then_spins_is_timed_out(api, script):
    result, seconds = timed_run(api, {"cyber-dojo.sh": script}, max_seconds=2)
    assert seconds < 2 + SAFETY_SECONDS
    assert result["outcome"] == "timed_out"
    assert result["stdout"]["content"] == "before\n"
    probe(api)


@pytest.mark.parametrize(
    "files, image",
    [
        ({"cyber-dojo.sh": "trap '' TERM INT HUP; sleep 1000"}, BUSYBOX),
        ({"cyber-dojo.sh": "sh -c \"trap '' TERM; while :; do :; done\" & wait"}, BUSYBOX),
        (
            {
                "cyber-dojo.sh": "python3 stubborn.py",
                "stubborn.py": (
                    "import os, signal\n"
                    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):\n"
                    "    signal.signal(s, signal.SIG_IGN)\n"
                    "os.setpgid(0, 0)  # leaves the process group the time limit kills\n"
                    "while True:\n"
                    "    pass\n"
                ),
            },
            PYTHON,
        ),
    ],
    ids=["shell-trap", "child-trap", "python-own-group"],
)
def test_a_process_ignoring_sigterm_is_timed_out(api, files, image):
    result, seconds = timed_run(api, files, image=image, max_seconds=2)
    assert seconds < 2 + SAFETY_SECONDS
    assert result["outcome"] == "timed_out", result["log"]
    probe(api)


def test_kill_9_of_pid_1_is_refused_and_the_run_completes(api):
    script = "echo before; kill -9 1; echo kill=$?; sleep 0.2; echo after; cat /proc/1/comm"
    result = run(api, {"cyber-dojo.sh": script}, max_seconds=5)
    assert result["outcome"] == "amber", result["log"]
    assert result["stdout"]["content"].split() == ["before", "kill=1", "after", PID_1]
    assert "Operation not permitted" in result["stderr"]["content"]
    probe(api)


def test_kill_9_of_every_process_reaches_only_the_runs_own_and_the_run_completes(api):
    # kill(-1) reaches every process of the run's uid; greenbar's supervisor is another uid,
    # so it carries on and reports, rather than the run ending without a result.
    script = "sleep 30 & echo before; kill -9 -1; echo after; wait"
    result, seconds = timed_run(api, {"cyber-dojo.sh": script})
    assert seconds < 5
    assert result["outcome"] == "amber", result["log"]
    assert result["stdout"]["content"].split() == ["before", "after"]
    assert result["status"] == 0
    probe(api)


# About the host kernel: kill(-1) reaches every process of the caller's uid on the host, and
# a uid per container is what keeps it in. Under gVisor each sandbox is a kernel of its own.
# There, too, an earlier hostile test's container can take tens of seconds to go, holding a
# worker slot, and the killer ran only after the slow run had ended.
@pytest.mark.slow
@pytest.mark.host_kernel
def test_kill_9_of_every_process_does_not_reach_a_run_in_another_container(api):
    # Room for the killer's whole run inside the slow one's sleep, on a busy machine.
    slow = {"image": BUSYBOX, "files": {"cyber-dojo.sh": "sleep 10; echo PASSED"}}
    response = api.post("/runs", json={**slow, "max_seconds": 15})
    assert response.status_code == 202, response.get_json()
    run_id = response.get_json()["id"]
    wait_until(
        lambda: api.get(f"/runs/{run_id}").get_json()["state"] == "running", 10, "the slow run"
    )
    time.sleep(0.7)  # its container is up, well inside its 10 s sleep
    killer = run(api, {"cyber-dojo.sh": "kill -9 -1; echo survived"})
    assert killer["stdout"]["content"] == "survived\n", killer
    slow_view = api.get(f"/runs/{run_id}").get_json()
    ended = {k: slow_view.get("result", {}).get(k) for k in ("outcome", "status", "stdout", "log")}
    assert slow_view["state"] == "running", ("the two did not overlap", ended, killer)
    view = api.get(f"/runs/{run_id}?wait=25").get_json()
    assert view["state"] == "done", view
    assert view["result"]["outcome"] == "green", view["result"]
    assert view["result"]["stdout"]["content"] == "PASSED\n"
    probe(api)


# Output


def test_a_ten_megabyte_line_without_a_newline_is_truncated_everywhere(api):
    script = (
        "head -c 10485760 /dev/zero | tr '\\0' x | tee long.txt\n"
        "head -c 10485760 /dev/zero | tr '\\0' y >&2\n"
    )
    result = run(api, {"cyber-dojo.sh": script}, max_seconds=10)
    assert result["outcome"] == "amber", result["log"]
    assert result["stdout"] == {"content": "x" * LIMIT, "truncated": True}
    assert result["stderr"] == {"content": "y" * LIMIT, "truncated": True}
    assert result["created"]["long.txt"] == {"content": "x" * LIMIT, "truncated": True}
    probe(api)


# Network


def _gateway(docker_client: docker.DockerClient) -> str:
    config = docker_client.networks.get("bridge").attrs["IPAM"]["Config"] or [{}]
    return config[0].get("Gateway") or "172.17.0.1"


def test_no_address_is_reachable_from_the_shell(api, docker_client, settings):
    gateway = _gateway(docker_client)
    redis_port = settings.redis_url.rsplit(":", 1)[1].split("/")[0]
    targets = {
        "public": "1.1.1.1 80",
        "gateway-docker": f"{gateway} 2375",
        "gateway-http": f"{gateway} 80",
        "default-gateway-docker": "172.17.0.1 2375",
        "metadata": "169.254.169.254 80",
        "host-redis": f"127.0.0.1 {redis_port}",
    }
    script = "".join(
        f"nc -w 2 {where} </dev/null >/dev/null 2>&1 && echo {name}=reached || echo {name}=failed\n"
        for name, where in targets.items()
    ) + (
        "wget -q -T 2 -O /dev/null http://169.254.169.254/latest/meta-data/ 2>/dev/null"
        " && echo metadata-http=reached || echo metadata-http=failed\n"
        f"wget -q -T 2 -O /dev/null http://{gateway}:2375/version 2>/dev/null"
        " && echo docker-http=reached || echo docker-http=failed\n"
        "nslookup example.com >/dev/null 2>&1 && echo dns=reached || echo dns=failed\n"
        "nslookup example.com 8.8.8.8 >/dev/null 2>&1 && echo dns-public=reached"
        " || echo dns-public=failed\n"
        "echo links=$(ip -o link | cut -d: -f2 | tr -d ' ')\n"
        'echo routes="$(ip route)"\n'
    )
    result, seconds = timed_run(api, {"cyber-dojo.sh": script}, max_seconds=5)
    assert seconds < 5 + SAFETY_SECONDS
    assert result["outcome"] != "timed_out", result["stdout"]
    said = verdicts(result["stdout"]["content"])
    reached = [name for name, verdict in said.items() if verdict == "reached"]
    assert reached == []
    tried = {*targets, "metadata-http", "docker-http", "dns", "dns-public", "links", "routes"}
    assert set(said) == tried, result["stdout"]["content"]
    assert said["links"] == "lo"
    # gVisor lists its loopback's route; the host kernel, with network none, lists none.
    loopback_only = "127.0.0.0/8 dev lo scope link" if GVISOR else ""
    assert said["routes"].strip() == loopback_only, "no route leaves the sandbox"
    probe(api)


def test_no_address_is_reachable_from_python(api, docker_client):
    script = (
        "import socket, sys\n"
        "for host in ('example.com', 'localhost.localdomain.example'):\n"
        "    try:\n"
        "        socket.getaddrinfo(host, 80)\n"
        "        print(f'dns-{host}=resolved')\n"
        "    except socket.gaierror:\n"
        "        print(f'dns-{host}=failed')\n"
        "for host, port in [(a.split(':')[0], int(a.split(':')[1])) for a in sys.argv[1:]]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=2).close()\n"
        "        print(f'{host}:{port}=reached')\n"
        "    except OSError:\n"
        "        print(f'{host}:{port}=failed')\n"
        "try:\n"
        "    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
        "    print('raw=opened')\n"
        "except OSError:\n"
        "    print('raw=failed')\n"
    )
    addresses = ["1.1.1.1:443", f"{_gateway(docker_client)}:2375", "169.254.169.254:80"]
    files = {"cyber-dojo.sh": "python3 net.py " + " ".join(addresses), "net.py": script}
    result = run(api, files, image=PYTHON, max_seconds=5)
    said = verdicts(result["stdout"]["content"])
    assert len(said) == 6, result["stderr"]["content"]
    assert set(said.values()) == {"failed"}, said
    probe(api)


# The kernel's knobs and privilege


def test_writes_to_sys_and_proc_sys_are_refused(api):
    # Each file is written back with the value it holds (drop_caches, unreadable, with 1): were a
    # write ever to succeed, it would change nothing on the host.
    files = [
        "/sys/kernel/mm/ksm/run",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/pids.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/memory.max",
        "/proc/sys/vm/drop_caches",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/hostname",
        "/proc/sys/net/ipv4/ip_forward",
    ]
    script = "".join(
        f"if [ -e {f} ]; then v=$(cat {f} 2>/dev/null | head -n 1); v=${{v:-1}}; "
        f'if (echo "$v" > {f}) 2>/dev/null; then echo {f}=written; else echo {f}=refused; fi; '
        f"fi\n"
        for f in files
    )
    result = run(api, {"cyber-dojo.sh": script}, max_seconds=5)
    said = verdicts(result["stdout"]["content"])
    assert set(said.values()) == {"refused"}, said
    # gVisor's /sys and /proc/sys hold none of the host's knobs but the hostname's.
    always = ["/proc/sys/kernel/hostname"]
    if not GVISOR:
        always += ["/sys/kernel/mm/ksm/run", "/proc/sys/vm/drop_caches"]
    for knob in always:
        assert said.get(knob) == "refused", said
    if not GVISOR:
        assert any(n.startswith("/sys/fs/cgroup/") for n in said), "one cgroup v1 or v2 limit"
    probe(api)


def test_the_shell_cannot_chroot_mount_unshare_mknod_or_read_the_kernel_log(api):
    script = (
        "mkdir -p /tmp/x\n"
        "for try in 'chroot /tmp true' 'mount -t tmpfs none /tmp/x' 'mount -o remount,rw /'\\\n"
        "  'unshare -r true' 'unshare -U true' 'unshare -m true' 'unshare -p -f true'\\\n"
        "  'unshare -n true' 'mknod /tmp/sda b 8 0' 'dmesg' 'setpriv --reuid=0 true'\\\n"
        "  'nsenter -t 1 -m true' 'hostname evil'; do\n"
        '  if $try >/dev/null 2>&1; then echo "$try=succeeded"; else echo "$try=failed"; fi\n'
        "done\n"
        "cat /proc/kmsg >/dev/null 2>&1 & sleep 0.3; kill $! 2>/dev/null && echo kmsg=read"
        " || echo 'kmsg=failed'\n"
        "cat /tmp/sda >/dev/null 2>&1 && echo open-sda=read || echo open-sda=failed\n"
    )
    result = run(api, {"cyber-dojo.sh": script}, max_seconds=5)
    said = verdicts(result["stdout"]["content"])
    assert len(said) == 15, result["stdout"]["content"]
    # gVisor's kernel lets a run make a user namespace of its own, a device node that no device
    # answers (opening it fails, below) and read its made-up kernel log; none is the host's.
    harmless = {"unshare -U true", "mknod /tmp/sda b 8 0", "dmesg"} if GVISOR else set()
    assert {k: v for k, v in said.items() if v != "failed" and k not in harmless} == {}
    assert said["open-sda"] == "failed"
    probe(api)


def test_python_cannot_become_root_or_enter_new_namespaces(api, settings):
    script = (
        "import ctypes, os\n"
        "print(f'uid={os.getuid()},{os.geteuid()}')\n"
        "attempts = {\n"
        "    'setuid': lambda: os.setuid(0),\n"
        "    'seteuid': lambda: os.seteuid(0),\n"
        "    'setgid': lambda: os.setgid(0),\n"
        "    'setgroups': lambda: os.setgroups([0]),\n"
        "    'chroot': lambda: os.chroot('/tmp'),\n"
        "    'nice': lambda: os.nice(-5),\n"
        "    'chown': lambda: os.chown('/sandbox/escalate.py', 0, 0),\n"
        "}\n"
        "for name, attempt in attempts.items():\n"
        "    try:\n"
        "        attempt()\n"
        "        print(f'{name}=succeeded')\n"
        "    except PermissionError:\n"
        "        print(f'{name}=PermissionError')\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "flags = {'user': 0x10000000, 'mount': 0x20000, 'pid': 0x20000000, 'net': 0x40000000}\n"
        "for name, flag in flags.items():\n"
        "    rc = libc.unshare(flag)\n"
        "    said = 'succeeded' if rc == 0 else os.strerror(ctypes.get_errno())\n"
        "    print(f'unshare-{name}={said}')\n"
    )
    files = {"cyber-dojo.sh": "python3 escalate.py", "escalate.py": script}
    result = run(api, files, image=PYTHON)
    said = verdicts(result["stdout"]["content"])
    refused = "Operation not permitted"
    expected = {
        "setuid": "PermissionError",
        "seteuid": "PermissionError",
        "setgid": "PermissionError",
        "setgroups": "PermissionError",
        "chroot": "PermissionError",
        "nice": "PermissionError",
        "chown": "PermissionError",
        **{f"unshare-{kind}": refused for kind in ("user", "mount", "pid", "net")},
        "uid": said["uid"],
    }
    if GVISOR:  # gVisor's kernel: its own namespaces and scheduler, none of them the host's
        expected.update({"nice": "succeeded"})
        expected.update(
            {f"unshare-{kind}": "succeeded" for kind in ("user", "mount", "pid", "net")}
        )
    assert said == expected
    uid, euid = map(int, said["uid"].split(","))
    assert uid == euid and settings.uid_base <= uid <= settings.last_uid
    probe(api)


def test_the_images_setuid_programs_give_no_privilege(api):
    # Debian's mount and su are setuid root; no-new-privileges makes the bit inert.
    script = (
        "echo setuid=$(find /usr/bin -perm -4000 | wc -l)\n"
        "mkdir -p /tmp/x\n"
        "mount -t tmpfs none /tmp/x >/dev/null 2>&1 && echo mount=succeeded || echo mount=failed\n"
        "su -c 'id -u' root </dev/null >/tmp/su 2>&1 && echo su=succeeded || echo su=failed\n"
        "newgrp root </dev/null >/dev/null 2>&1 && echo newgrp=succeeded || echo newgrp=failed\n"
    )
    result = run(api, {"cyber-dojo.sh": script}, image=PYTHON)
    said = verdicts(result["stdout"]["content"])
    assert int(said.pop("setuid")) >= 2, "the image still ships setuid programs to try"
    assert said == {"mount": "failed", "su": "failed", "newgrp": "failed"}
    probe(api)


def test_every_capability_set_is_empty_and_seccomp_filters(api):
    result = run(api, {"cyber-dojo.sh": "grep -E '^(Cap|Seccomp:)' /proc/self/status"})
    fields = dict(line.split(":\t") for line in result["stdout"]["content"].splitlines())
    empty = "0000000000000000"
    expected = {"CapInh": empty, "CapPrm": empty, "CapEff": empty, "CapBnd": empty}
    # gVisor shows no ambient set, and the engine's seccomp profile does not apply inside it
    # (gVisor's kernel answers the run's system calls; its own filter guards the host's).
    expected.update({"Seccomp": "0"} if GVISOR else {"CapAmb": empty, "Seccomp": "2"})
    assert fields == expected
    probe(api)


# What the sandbox can see of its host


def test_the_environment_holds_no_worker_settings_or_secrets(api, settings):
    script = "env; tr '\\0' '\\n' </proc/1/environ; set"
    result = run(api, {"cyber-dojo.sh": script})
    seen = result["stdout"]["content"]
    assert "HOME=/home/sandbox" in seen
    for name in ("GREENBAR_", "REDIS", "DOCKER_HOST", "CELERY", "TOKEN"):
        assert name not in seen.upper(), name
    for secret in (settings.redis_url, *settings.client_tokens, *settings.admin_tokens):
        assert secret not in seen
    probe(api)


def test_there_is_no_docker_socket_and_pid_1_is_docker_init(api):
    script = (
        "for s in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock; do\n"
        '  [ -e "$s" ] && echo "$s=present" || echo "$s=absent"; done\n'
        "echo \"cmdline=$(head -c 41 /proc/1/cmdline | tr '\\0' ' ')\"\n"
        "echo processes=$(ls -d /proc/[0-9]* | wc -l)\n"
    )
    result = run(api, {"cyber-dojo.sh": script})
    said = verdicts(result["stdout"]["content"])
    pid_1 = "/greenbar/supervisor " if GVISOR else "/sbin/docker-init -- /greenbar/supervisor"
    assert said.pop("cmdline").startswith(pid_1)
    assert int(said.pop("processes")) < 20, "only the sandbox's own processes are visible"
    assert set(said.values()) == {"absent"}
    probe(api)


def test_nothing_from_the_host_is_mounted_but_docker_init_the_hostname_and_the_supervisor(api):
    # /greenbar is greenbar's own named volume holding the supervisor, read-only and root's.
    script = "cat /proc/self/mountinfo; ls -ln /greenbar >&2; touch /greenbar/x"
    result = run(api, {"cyber-dojo.sh": script})
    listed = result["stderr"]["content"]
    assert [line.split()[-1] for line in listed.splitlines()[1:3]] == [
        "supervisor",
        "supervisor.sha256",
    ]
    assert all(line.split()[2:4] == ["0", "0"] for line in listed.splitlines()[1:3])
    assert "Read-only file system" in listed or (GVISOR and "Permission denied" in listed)
    from_disk = {}
    for line in result["stdout"]["content"].splitlines():
        fields = line.split()
        mount_point, options = fields[4], fields[5]
        fs_type, source = line.split(" - ")[1].split()[:2]
        assert "docker.sock" not in line
        if source.startswith("/dev/") and fs_type not in ("tmpfs", "devpts", "mqueue"):
            from_disk[mount_point] = options.split(",")[0]
        if GVISOR and fs_type == "9p":  # gVisor reaches host files through its gofer only
            from_disk[mount_point] = options.split(",")[0]
    allowed = {"/sbin/docker-init", "/etc/hostname", "/etc/hosts", "/greenbar"}
    allowed |= {"/"} if GVISOR else set()  # the image's root file system, read-only
    assert set(from_disk) <= allowed, from_disk
    assert set(from_disk.values()) == {"ro"}, from_disk
    probe(api)


# Names the program makes


NAMES = {
    "newline": "a\nb",
    "dash": "-rf",
    "checkpoint": "--checkpoint=1",
    "checkpoint-action": "--checkpoint-action=exec=sh evil.sh",
    "quotes": 'it\'s "quoted"',
    "dollar": "$(touch pwned)",
    "emoji": "\U0001f600.txt",
    "255-bytes": "n" * 255,
    "255-bytes-unicode": "\U0001f600" * 63 + "abc",
}


@pytest.mark.parametrize("image", [BUSYBOX, PYTHON])
def test_file_names_the_program_makes_come_back_exactly_and_run_nothing(api, image, katas):
    kata = katas()
    made = "".join(
        f"printf %s {_sh_quoted(name)} > {_sh_quoted(name)}\n" for name in NAMES.values()
    )
    files = {
        "cyber-dojo.sh": (
            "printf 'touch /sandbox/pwned\\n' > evil.sh\n"
            + made
            + "printf x > \"$(printf 'bad\\377name')\"\n"
        )
    }
    result = run(api, files, image=image, kata=kata)
    assert result["outcome"] != "faulty", result["log"]
    expected = {name: {"content": name, "truncated": False} for name in NAMES.values()}
    expected["evil.sh"] = {"content": "touch /sandbox/pwned\n", "truncated": False}
    expected["bad\ufffdname"] = {"content": "x", "truncated": False}
    assert result["created"] == expected
    # The files stayed in the kata's volume: had tar on either side acted on a name, pwned
    # would be there now.
    script = "ls -A /sandbox | grep -cx pwned; find /sandbox -type f -print0 | tr -cd '\\0' | wc -c"
    listed = run(api, {"cyber-dojo.sh": script}, kata=kata)
    assert listed["stdout"]["content"].split() == ["0", str(len(NAMES) + 3)]
    probe(api)


def _sh_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.mark.parametrize("name", ["a\nb", "tab\there", "del\x7f", "cr\r"])
def test_a_sent_file_name_with_a_control_character_is_refused_with_422(api, name):
    body = {"image": BUSYBOX, "files": {"cyber-dojo.sh": "echo PASSED", name: "x"}}
    response = api.post("/runs", json=body)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == f"files[{name}]"


def test_sent_names_that_look_like_options_or_code_are_unpacked_and_deleted_literally(api, katas):
    hostile = [
        "--checkpoint=1",
        "--checkpoint-action=exec=sh evil.sh",
        "-rf",
        "*",
        "$(touch pwned)",
        "`touch pwned`",
        "x;touch pwned",
        " leading space",
        "trailing space ",
        "back\\slash",
        "dir/it's here",
    ]
    kata = katas()
    files = {name: f"{name}\n" for name in hostile}
    files["evil.sh"] = "touch /sandbox/pwned\n"
    files["cyber-dojo.sh"] = "find . -type f; touch kept.out"
    first = run(api, files, kata=kata)
    assert first["outcome"] == "amber", first
    assert set(first["stdout"]["content"].splitlines()) == {f"./{name}" for name in files}
    assert list(first["created"]) == ["kept.out"]
    assert first["changed"] == {}
    # The client no longer sends them: the entry script deletes each by its exact name.
    second = run(api, {"cyber-dojo.sh": "find . -type f | sort"}, kata=kata)
    assert second["stdout"]["content"].split("\n") == [
        "./cyber-dojo.sh",
        "./kept.out",
        "",
    ], "the sent names are gone, kept.out (never sent) is not, and nothing else appeared"
    probe(api)


# Persistence


def test_files_persist_only_in_the_sandbox_of_the_same_kata(api, katas):
    script = (
        "for f in /sandbox/left.txt /tmp/left.txt; do\n"
        '  [ -e "$f" ] && echo "$f=present" || echo "$f=absent"\n'
        "done\n"
        "echo left > /sandbox/left.txt; echo left > /tmp/left.txt\n"
    )
    kata, other = katas(), katas()
    seen = [
        verdicts(run(api, {"cyber-dojo.sh": script}, **fields)["stdout"]["content"])
        for fields in ({}, {}, {"kata": kata}, {"kata": kata}, {"kata": other})
    ]
    absent = {"/sandbox/left.txt": "absent", "/tmp/left.txt": "absent"}
    assert seen == [
        absent,
        absent,
        absent,
        {"/sandbox/left.txt": "present", "/tmp/left.txt": "absent"},
        absent,
    ]
    probe(api)


# Kata volumes are on the node's disk


def test_a_kata_run_cannot_write_more_than_a_sandbox_holds(api, katas, settings):
    # A fresh /sandbox is a 64 MiB tmpfs; a kata's volume should bound a run no less, or
    # one run of max_seconds can fill the node's disk for every other run.
    script = (
        "for i in 1 2 3 4; do\n"
        "  dd if=/dev/zero of=big$i bs=1M count=50 2>/dev/null && echo wrote$i=50\n"
        "done\n"
        "echo total=$(du -sm /sandbox | cut -f1)\n"
        "rm -f big*\n"
    )
    result = run(api, {"cyber-dojo.sh": script}, kata=katas(), max_seconds=10)
    total, limit = int(verdicts(result["stdout"]["content"])["total"]), settings.sandbox_tmpfs_mib
    assert total <= limit, f"a kata run wrote {total} MiB to the node's disk"
    probe(api)


def test_a_kata_run_cannot_make_more_files_than_a_sandbox_holds(api, katas, settings):
    # Counted by the kata's next run: under gVisor, making files in a volume is slow enough
    # that the first may time out before it reaches the limit.
    kata = katas()
    script = "mkdir -p many && cd many\nseq 1 20000 | xargs touch 2>/dev/null\n"
    run(api, {"cyber-dojo.sh": script}, kata=kata, max_seconds=10)
    # A glob reads the directory without a stat per file, which under gVisor took `ls` past
    # the run's limit before it printed anything.
    count = "cd many && set -- * && echo files=$#; cd .. && rm -rf many"
    result = run(api, {"cyber-dojo.sh": count}, kata=kata, max_seconds=20)
    counted = verdicts(result["stdout"]["content"])
    assert "files" in counted, (result["outcome"], result["log"], result["stderr"])
    made, limit = int(counted["files"]), settings.sandbox_inodes
    assert made <= limit, f"a kata run made {made} files on the node's disk"
    probe(api)


def test_a_kata_run_cannot_hide_data_from_the_volume_quota(api, katas, settings):
    # The quota is checked against the sandbox's own `du`, which cannot read a directory the
    # run has made unreadable: the data would stay in the volume, run after run.
    kata = katas()
    hide = (
        "mkdir hidden\n"
        "for i in 1 2; do dd if=/dev/zero of=hidden/big$i bs=1M count=50 2>/dev/null; done\n"
        "chmod 0 hidden\n"
    )
    first = run(api, {"cyber-dojo.sh": hide}, kata=kata, max_seconds=10)
    look = (
        "chmod 700 hidden && echo kept=$(du -sm hidden | cut -f1) && rm -rf hidden || echo kept=0"
    )
    second = run(api, {"cyber-dojo.sh": look}, kata=kata)
    kept, quota = int(verdicts(second["stdout"]["content"])["kept"]), settings.kata_quota_mib
    assert "wiped" in first["log"] or kept <= quota, (
        f"{kept} MiB survived a quota of {quota} MiB: the run reported "
        f"sandbox_kib={first['sandbox_kib']}"
    )
    probe(api)


# The stream greenbar reads the result from

REACH_THE_SUPERVISOR = """\
import os

targets = [pid for pid in os.listdir("/proc") if pid.isdigit() and int(pid) != os.getpid()]
for pid in sorted(targets, key=int):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            name = cmdline.read().split(b"\\0")[0].decode()
    except OSError:
        continue
    for path, mode in (("fd/1", "wb"), ("fd/2", "wb"), ("mem", "rb"), ("maps", "r")):
        try:
            with open(f"/proc/{pid}/{path}", mode) as reached:
                if "w" in mode:
                    reached.write(b"GBOUT01\\nS\\0\\0\\0\\x010E\\0\\0\\0\\0")
            print(f"{name}:{path}=reached")
        except OSError as error:
            print(f"{name}:{path}={type(error).__name__}")
"""


def test_the_supervisors_stream_and_memory_are_out_of_the_runs_reach(api):
    # The supervisor and pid 1 are other uids: a run can neither write a forged result into
    # the stream the host reads (/proc/<pid>/fd/1) nor read their memory.
    files = {"cyber-dojo.sh": "python3 reach.py; exit 3", "reach.py": REACH_THE_SUPERVISOR}
    result = run(api, files, image=PYTHON, max_seconds=5)
    said = verdicts(result["stdout"]["content"])
    others = {
        k: v
        for k, v in said.items()
        if k.split(":")[0] in ("/sbin/docker-init", "/greenbar/supervisor")
    }
    assert len(others) == (4 if GVISOR else 8), said  # no docker-init under gVisor
    if GVISOR:  # gVisor shows another uid's maps; never its memory or its descriptors
        assert others.pop("/greenbar/supervisor:maps") == "reached"
    assert set(others.values()) == {"PermissionError"}, others
    assert (result["status"], result["outcome"]) == (3, "amber")
    probe(api)


# What a forged result stream would hold: greenbar's magic, an exit status of 0, the end, and
# the header of a stdout frame of 4 GiB.
FORGED_FRAMES = b"GBOUT01\nS\x00\x00\x00\x010E\x00\x00\x00\x00O\xff\xff\xff\xff"


def test_binary_files_holding_forged_result_frames_come_back_as_their_bytes_and_forge_nothing(
    api,
):
    # With return_binary the supervisor copies a file's raw bytes into its result stream; each
    # frame says its length first, so bytes shaped like greenbar's framing stay a file's content,
    # and a forged frame just past the output limit is cut off with the rest.
    escaped = "".join(f"\\{byte:03o}" for byte in FORGED_FRAMES)
    script = (
        f"printf '{escaped}' > forged.bin\n"
        f"{{ head -c {LIMIT} /dev/zero; printf '{escaped}'; }} > cut.bin\n"
        "echo done; exit 3\n"
    )
    result = run(api, {"cyber-dojo.sh": script}, return_binary=True)
    assert (result["status"], result["outcome"]) == (3, "amber")
    assert result["stdout"] == {"content": "done\n", "truncated": False}
    assert set(result["created"]) == {"forged.bin", "cut.bin"}
    forged, cut = result["created"]["forged.bin"], result["created"]["cut.bin"]
    assert (forged["encoding"], forged["truncated"]) == ("base64", False)
    assert base64.b64decode(forged["content"]) == FORGED_FRAMES
    assert cut["truncated"] is True
    assert base64.b64decode(cut["content"]) == b"\0" * LIMIT
    probe(api)
