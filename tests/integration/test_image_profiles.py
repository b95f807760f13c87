"""Per-image profiles on the real engine: a profiled image's container gets its limits, and
SYS_PTRACE relaxes the default seccomp profile for the run without giving it a capability.
A Runner of its own here, as the session's worker has the node's settings."""

import dataclasses
import json
import uuid

import pytest
import redis

from app.externals.engine import Engine
from app.sandbox.runner import Runner
from app.sandbox.supervisor import SupervisorVolume
from app.sandbox.uids import UidAllocator

PYTHON = "greenbar/python-pytest"
BUSYBOX = "greenbar/busybox-sh"
# process_vm_readv of the run's own memory: refused by the default seccomp profile (EPERM)
# unless the container holds CAP_SYS_PTRACE.
PROBE = """import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
class Iov(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
src, dst = ctypes.create_string_buffer(b"seen", 4), ctypes.create_string_buffer(4)
local, remote = Iov(ctypes.addressof(dst), 4), Iov(ctypes.addressof(src), 4)
got = libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
print("read" if got == 4 else os.strerror(ctypes.get_errno()))
print(open("/proc/self/status").read().split("CapEff:")[1].split()[0])
"""
SCRIPT = "python3 probe.py; df -m /home/sandbox | tail -1 | awk '{print $2}'; ulimit -f\n"


@pytest.fixture
def runner_for(settings, images):
    made = []
    engine = Engine.from_env()
    client = redis.Redis.from_url(settings.redis_url)

    def make(profiles: dict) -> Runner:
        profiled = dataclasses.replace(settings, image_profiles=json.dumps(profiles), pool_size=0)
        uids = UidAllocator(client, settings.node, settings.uid_base, settings.uid_count)
        runner = Runner(engine, profiled, SupervisorVolume(engine, client, profiled), uids)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.dispose()


def test_a_profiled_image_gets_its_limits_and_sys_ptrace_relaxes_seccomp_only(runner_for):
    profile = {"home_tmpfs_mib": 24, "ulimit_fsize_mib": 128, "extra_capabilities": ["SYS_PTRACE"]}
    runner = runner_for({PYTHON: profile})
    result = runner.run(PYTHON, {"cyber-dojo.sh": SCRIPT, "probe.py": PROBE}, 10, _id())
    said = result.stdout["content"].splitlines()
    assert said == ["read", "0000000000000000", "24", str(128 * 1024)], result  # bash: KiB
    # The same runner, an image no pattern matches: the node's settings.
    other = runner.run(
        BUSYBOX, {"cyber-dojo.sh": "df -m /home/sandbox | tail -1; ulimit -f"}, 10, _id()
    )
    assert other.stdout["content"].split()[1] == "16", other
    assert other.stdout["content"].split()[-1] == str(64 * 1024 * 2)


def test_without_sys_ptrace_the_same_probe_is_refused(runner_for):
    runner = runner_for({})
    result = runner.run(PYTHON, {"cyber-dojo.sh": SCRIPT, "probe.py": PROBE}, 10, _id())
    said = result.stdout["content"].splitlines()
    assert said[:3] == ["Operation not permitted", "0000000000000000", "16"], result


def _id() -> str:
    return f"profile-{uuid.uuid4().hex[:16]}"
