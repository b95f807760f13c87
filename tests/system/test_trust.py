"""What greenbar takes from a run can be trusted (issue 11): the run cannot forge its result,
burn the worker's CPU, rewrite the capture, poison its kata's volume unreported, starve other
runs of per-uid kernel resources, or kill the entry script, and a kata volume reports what the
run rewrote with times a build tool can trust.

Tests by finding:

1. the result channel can be forged:
   test_a_run_cannot_forge_its_result_through_another_process[stdout|stderr|appended]
2. a forged archive burns the worker's CPU:
   test_a_forged_archive_costs_the_worker_no_more_cpu_than_the_runs_time_limit
3. the capture directory is writable by the run:
   test_a_run_cannot_rewrite_or_fill_greenbars_capture[markers|full|both]
5. kata volumes can be poisoned, runs of one kata overlap, volume names are guessable:
   (a) test_a_kata_result_names_every_file_its_volume_keeps_beyond_those_sent
   (b) test_a_second_run_of_a_kata_is_refused_with_409_while_the_first_is_in_flight
   (c) test_no_volume_name_holds_the_kata_id
6. per-uid kernel limits are shared by every sandbox:
   test_one_run_holding_every_inotify_instance_it_may_have_leaves_another_run_its_own,
   test_one_run_holding_every_inotify_watch_it_may_have_leaves_another_run_its_own,
   test_one_run_holding_more_pipe_buffers_than_allowed_leaves_another_run_full_pipes,
   test_no_run_can_make_a_user_namespace_or_a_keyring_while_another_run_tries_too
7. a fork bomb can kill greenbar's own entry script:
   test_a_shell_fork_bomb_is_never_blamed_on_greenbar
8. kata volumes lose what the run rewrites, and edited files get whole-second times:
   test_a_file_a_kata_run_rewrites_is_created_every_time_its_content_changes,
   test_an_edited_file_is_newer_than_the_last_build_and_an_unedited_one_keeps_its_time,
   test_an_edited_file_is_newer_even_than_a_build_output_dated_in_the_future

Finding 4 has no test here.
"""

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import psutil
import pytest

from tests.helpers import DEPLOYMENT, ROOT, kata_volume, run, wait_until

BUSYBOX = "greenbar/busybox-sh"
PYTHON = "greenbar/python-pytest"
WAIT_SECONDS = 25  # the longest ?wait= the API allows
FINAL = ("done", "error")


def probe(api: Any) -> None:
    """The run after a hostile one: a plain busybox run that must be green."""
    result = run(api, {"cyber-dojo.sh": "echo PASSED"})
    assert result["outcome"] == "green", result
    assert result["stdout"]["content"] == "PASSED\n"


def verdicts(text: str) -> dict[str, str]:
    """`name=value` lines (as the programs below print them) as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def post(api: Any, files: dict[str, str], image: str = BUSYBOX, **fields: Any) -> str:
    """POSTs a run without waiting; returns its id."""
    response = api.post("/runs", json={"image": image, "files": files, **fields})
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["id"])


def finished(api: Any, run_id: str, rounds: int = 3) -> Any:
    """Waits for a run to end (up to `rounds` long waits); returns its view."""
    view = api.get(f"/runs/{run_id}").get_json()
    for _ in range(rounds):
        if view["state"] in FINAL:
            break
        view = api.get(f"/runs/{run_id}?wait={WAIT_SECONDS}").get_json()
    return view


def summary(result: Any) -> dict[str, Any]:
    """The parts of a result an assertion message needs."""
    keys = ("outcome", "status", "log", "stdout", "created")
    return {key: result.get(key) for key in keys}


def result_of(api: Any, run_id: str) -> Any:
    view = finished(api, run_id)
    assert view["state"] == "done", view
    return view["result"]


# Kata volumes, found by their labels: after the fix a volume's name need not hold its kata id.


def _kata_parts(client: docker.DockerClient) -> tuple[set[str], set[str]]:
    """This suite's kata volumes (names) and holder containers (ids)."""
    mine = f"greenbar.deployment={DEPLOYMENT}"
    volumes = client.api.volumes(filters={"label": [mine, "greenbar.kind=kata"]})
    holders = client.api.containers(
        all=True, filters={"label": [mine, "greenbar.kind=kata-holder"]}
    )
    return {v["Name"] for v in volumes.get("Volumes") or []}, {c["Id"] for c in holders}


@pytest.fixture
def kata_ids(docker_client: docker.DockerClient) -> Iterator[Callable[[], str]]:
    """Makes unique kata ids; every kata volume and holder made during the test is removed."""
    volumes_before, holders_before = _kata_parts(docker_client)

    def make() -> str:
        return f"trust-{uuid.uuid4().hex[:12]}"

    yield make
    volumes, holders = _kata_parts(docker_client)
    for holder in holders - holders_before:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.api.remove_container(holder, force=True)
    for volume in volumes - volumes_before:
        deadline = time.monotonic() + 20  # a run's container may still be on its way out
        while True:
            try:
                docker_client.api.remove_volume(volume, force=True)
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


# 1. The result channel


FORGE = r'''
"""Tries to forge greenbar's result from inside the run: reads 32-hex-digit nonce candidates
out of every other process's memory, then writes a forged result (marker and archive, in the
entry script's format) into every other process's stdout or stderr. Prints each attempt as
`attempt KIND PID VERDICT`."""
import errno
import io
import os
import re
import sys
import tarfile
import time

MODE = sys.argv[1]  # stdout, stderr or appended; pax or sparse: a costly archive
TOKEN = "forged" + "-" + "result"  # so that this program never prints it itself
HEX = re.compile(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
REGION_MAX = 64 << 20


def runs_cyber_dojo(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return any(a.rsplit(b"/", 1)[-1] == b"cyber-dojo.sh" for a in f.read().split(b"\0"))


def parent(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])


def ours():
    """This process and the shells above it running cyber-dojo.sh: the run's own."""
    mine, pid = {os.getpid()}, os.getppid()
    try:
        while pid > 1 and runs_cyber_dojo(pid):
            mine.add(pid)
            pid = parent(pid)
    except OSError:
        pass
    return mine


def verdict(error):
    if isinstance(error, PermissionError):
        return "denied"
    if isinstance(error, (FileNotFoundError, ProcessLookupError)):
        return "gone"
    return "failed-" + errno.errorcode.get(error.errno, str(error.errno))


def nonces(pid):
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)
    except OSError as error:
        print(f"attempt mem {pid} {verdict(error)}")
        return set()
    print(f"attempt mem {pid} opened")
    found = set()
    with mem:
        for line in maps:
            span, perms = line.split()[:2]
            start, end = (int(x, 16) for x in span.split("-"))
            if not perms.startswith("r") or end - start > REGION_MAX:
                continue
            try:
                mem.seek(start)
                found.update(m.group().decode() for m in HEX.finditer(mem.read(end - start)))
            except (OSError, ValueError, OverflowError):
                continue
    return found


def streams(pids, fd):
    opened = []
    for pid in pids:
        try:
            stream = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
        except OSError as error:
            print(f"attempt fd {pid}/{fd} {verdict(error)}")
            continue
        os.set_blocking(stream, True)
        print(f"attempt fd {pid}/{fd} opened")
        opened.append(stream)
    return opened


def archive(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def forged():
    """A whole green result: status 0, tests passed, and a created file that never existed."""
    return archive([
        ("greenbar/out/stdout", f"{TOKEN}: 1 passed\n".encode()),
        ("greenbar/out/stderr", b""),
        ("greenbar/out/status", b"0\n"),
        (f"sandbox/{TOKEN}.txt", TOKEN.encode()),
    ])


def _pax(records):
    body = b""
    for record in records:
        n = len(record) + 3
        while len(b"%d %s\n" % (n, record)) != n:
            n += 1
        body += b"%d %s\n" % (n, record)
    return body


def _member(name, kind, data):
    info = tarfile.TarInfo(name)
    info.size, info.type = len(data), kind
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)


def bomb(kind):
    """An archive that costs its reader: a pax header of 100 000 digits (the quadratic regular
    expression of CVE-2024-6232), or sparse members of 3 GB each that hold no data at all."""
    if kind == "pax":
        costly = [_member("pax", tarfile.XHDTYPE, b"1" * 100_000)]
    else:
        realsize, costly = 3 * 10**9, []
        for n in range(5):
            name = b"GNU.sparse.name=sandbox/zeros%d" % n
            sparse = [b"GNU.sparse.major=1", b"GNU.sparse.minor=0", name,
                      b"GNU.sparse.realsize=%d" % realsize]
            costly.append(_member("pax", tarfile.XHDTYPE, _pax(sparse)))
            costly.append(_member(f"sandbox/{n}", tarfile.REGTYPE, b"1\n%d\n0\n" % realsize))
    return b"".join([
        *costly,
        _member("greenbar/out/stdout", tarfile.REGTYPE, b"1 passed\n"),
        _member("greenbar/out/status", tarfile.REGTYPE, b"0\n"),
        b"\0" * 1024,
    ])


def deliver(opened, candidates, payload):
    for stream in opened:
        for nonce in sorted(candidates):
            try:
                os.write(stream, b"greenbar-result %s\n" % nonce.encode() + payload)
            except OSError:
                pass


def hop_and_append(opened, targets):
    """In a session of its own, out of the run's output, hopping from pid to pid to outlive
    a sweep of the pids it saw: once an entry has become `tar` (the genuine marker is out),
    appends the forged archive to the stream, over and over."""
    if os.fork():
        return
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    stop = time.monotonic() + 4
    while time.monotonic() < stop:
        if os.fork():
            os._exit(0)
        for pid in targets:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    writing = f.read().split(b"\0")[0].endswith(b"tar")
            except OSError:
                writing = False
            if writing:
                for _ in range(50):
                    for stream in opened:
                        try:
                            os.write(stream, forged())
                        except OSError:
                            pass
                    time.sleep(0.005)
                os._exit(0)
    os._exit(0)


targets = sorted(int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in ours())
candidates = set()
for pid in targets:
    candidates |= nonces(pid)
print(f"candidates={len(candidates)}")
opened = streams(targets, 2 if MODE == "stderr" else 1)
sys.stdout.flush()
if MODE == "appended" and opened:
    hop_and_append(opened, targets)
elif MODE in ("pax", "sparse"):
    deliver(opened, candidates, bomb(MODE))
    sys.stdout.buffer.write(b"greenbar-result %s\n" % (b"0" * 32) + bomb(MODE))
else:
    deliver(opened, candidates, forged())
'''

FORGED_TOKEN = "forged-result"


def attempts(stdout: str) -> list[tuple[str, str, str]]:
    """The (kind, target, verdict) of every attempt the forging program printed."""
    found = []
    for line in stdout.splitlines():
        if line.startswith("attempt "):
            _, kind, target, said = line.split(" ")
            found.append((kind, target, said))
    return found


@pytest.mark.parametrize("mode", ["stdout", "stderr", "appended"])
def test_a_run_cannot_forge_its_result_through_another_process(api, mode):
    files = {"cyber-dojo.sh": f"python3 forge.py {mode}; exit 7", "forge.py": FORGE}
    result = run(api, files, image=PYTHON, max_seconds=5)
    assert (result["status"], result["outcome"]) == (7, "amber"), summary(result)
    assert [name for name in result["created"] if FORGED_TOKEN in name] == []
    assert FORGED_TOKEN not in json.dumps(result), "the forged status or stdout came back"
    tried = attempts(result["stdout"]["content"])
    assert [a for a in tried if a[2] == "opened"] == [], "another process's memory or stream"
    assert {kind for kind, _, said in tried if said == "denied"} == {"mem", "fd"}, tried
    probe(api)


# 2. The worker's CPU


def _tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of a process, its children (recursively) and its reaped children."""
    root = psutil.Process(pid)
    times = root.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # a child may end while we count
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


@pytest.mark.parametrize("archive", ["pax", "sparse"])
def test_a_forged_archive_costs_the_worker_no_more_cpu_than_the_runs_time_limit(
    api, worker, archive
):
    probe(api)  # both pool children have imported what they use
    files = {"cyber-dojo.sh": f"python3 forge.py {archive}; exit 7", "forge.py": FORGE}
    limit = 4  # seconds: time enough for the forging program on a busy machine
    before = _tree_cpu_seconds(worker.pid)
    result = result_of(api, post(api, files, image=PYTHON, max_seconds=limit))
    spent = _tree_cpu_seconds(worker.pid) - before
    assert spent <= limit + 1, f"the worker spent {spent:.1f} s of CPU on a run of {limit} s"
    assert result["status"] != 0, "the forged status came back"
    probe(api)


# 3. The capture


# Not `: > file`: a failed redirection of a special builtin ends a POSIX shell, which would
# make this script's own status 1 with no output (amber), whatever greenbar does.
CAPTURE_MARKERS = """\
mkdir -p /greenbar/out
echo 0 > /greenbar/out/status
echo oom_kill 1 > /greenbar/out/oom
touch /greenbar/out/timed_out
chmod 444 /greenbar/out/status /greenbar/out/oom
"""
CAPTURE_FULL = """\
dd if=/dev/zero of=/greenbar/fill bs=4096
i=0
while [ $i -lt 100 ] && touch /greenbar/f$i /greenbar/out/f$i; do i=$((i + 1)); done
"""


@pytest.mark.parametrize(
    "attack",
    [CAPTURE_MARKERS, CAPTURE_FULL, CAPTURE_MARKERS + CAPTURE_FULL],
    ids=["markers", "full", "both"],
)
def test_a_run_cannot_rewrite_or_fill_greenbars_capture(api, attack):
    script = f"{{\n{attack}}} >/dev/null 2>&1\necho 'FAILED: the capture was attacked'\nexit 1\n"
    result = run(api, {"cyber-dojo.sh": script}, max_seconds=5)
    assert result["outcome"] == "red", summary(result)
    assert result["status"] == 1
    assert "out of memory" not in result["log"]
    assert result["stdout"]["content"] == "FAILED: the capture was attacked\n"
    probe(api)


# 5. Kata volumes

# A conftest.py the client never sees: every test passes, whatever the code says.
PASS_EVERYTHING = """\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


def test_a_kata_result_names_every_file_its_volume_keeps_beyond_those_sent(api, kata_ids):
    kata = kata_ids()
    extra = [f"extra{n:02}.txt" for n in range(20)]
    writes = "".join(f"echo {name} > {name}\n" for name in extra)
    poison = f"cat > conftest.py <<'EOF'\n{PASS_EVERYTHING}EOF\n{writes}"
    first = run(api, {"cyber-dojo.sh": poison}, image=PYTHON, kata=kata)
    assert len(first["created"]) == 16, "GREENBAR_CREATED_FILES_MAX"
    assert first.get("created_truncated") is True, sorted(first)
    assert first.get("kept") == {"names": sorted(["conftest.py", *extra]), "truncated": False}
    start = ROOT / "images" / "python-pytest" / "start"
    shipped = {path.name: path.read_text() for path in start.iterdir()}
    second = run(api, shipped, image=PYTHON, kata=kata)
    assert "conftest.py" in second.get("kept", {}).get("names", []), (
        f"the volume turned the shipped start files {second['outcome']} without saying why"
    )
    assert second["kept"]["truncated"] is False


@pytest.mark.slow
def test_a_second_run_of_a_kata_is_refused_with_409_while_the_first_is_in_flight(api, kata_ids):
    body = {
        "image": BUSYBOX,
        "files": {"cyber-dojo.sh": "sleep 2; echo done"},
        "kata": kata_ids(),
        "max_seconds": 5,
    }
    first = api.post("/runs", json=body)
    assert first.status_code == 202, first.get_json()
    in_flight = [first.get_json()["id"]]
    try:
        second = api.post("/runs", json=body)
        if second.status_code == 202:
            in_flight.append(second.get_json()["id"])
        assert second.status_code == 409, second.get_json()
        error = second.get_json()["error"]
        assert (error["status"], error["field"]) == (409, "kata"), error
        assert finished(api, in_flight[0])["state"] == "done"
        third = api.post(f"/runs?wait={WAIT_SECONDS}", json=body)
        assert third.status_code == 200, third.get_json()
        assert third.get_json()["result"]["stdout"]["content"] == "done\n"
    finally:
        for run_id in in_flight:
            finished(api, run_id)


def test_no_volume_name_holds_the_kata_id(api, kata_ids, docker_client):
    before = _kata_parts(docker_client)[0]
    kata = kata_ids()
    run(api, {"cyber-dojo.sh": "echo kept > kept.txt"}, kata=kata)
    assert _kata_parts(docker_client)[0] - before, "the run made a kata volume"
    names = [v["Name"] for v in docker_client.api.volumes().get("Volumes") or []]
    assert [name for name in names if kata in name] == []


# 8. What a kata run rewrites, and file times


def test_a_file_a_kata_run_rewrites_is_created_every_time_its_content_changes(api, kata_ids):
    kata = kata_ids()
    # Not /proc/sys/kernel/random/uuid: gVisor's /proc has none.
    unique = "echo $(od -An -tx1 -N16 /dev/urandom | tr -d ' \\n')"
    script = f"mkdir -p report\n{unique} | tee report/coverage.txt\n"
    for _ in range(3):
        result = run(api, {"cyber-dojo.sh": script}, kata=kata)
        written = result["stdout"]["content"]
        assert len(written) == 33, result
        assert result["created"].get("report/coverage.txt") == {
            "content": written,
            "truncated": False,
        }, f"in created: {sorted(result['created'])}; changed: {sorted(result['changed'])}"


STAMP = """\
import os
import sys

for name in ("hiker.py", "test_hiker.py", "out.txt"):
    if os.path.exists(name):
        print(f"{name}={os.stat(name).st_mtime_ns}")
with open("out.txt", "w") as out:
    out.write("built\\n")
if sys.argv[1:] == ["future"]:
    year_2100 = 4102444800 * 10**9
    os.utime("out.txt", ns=(year_2100, year_2100))
"""


def _stamped(api: Any, kata: str, hiker: str, *args: str) -> dict[str, int]:
    files = {
        "cyber-dojo.sh": " ".join(["python3 stamp.py", *args]),
        "stamp.py": STAMP,
        "hiker.py": hiker,
        "test_hiker.py": "from hiker import answer\n",
    }
    result = run(api, files, image=PYTHON, kata=kata)
    assert result["stderr"]["content"] == "", result["stderr"]
    return {name: int(ns) for name, ns in verdicts(result["stdout"]["content"]).items()}


def _next_second() -> None:
    """Sleeps into the next wall-clock second: whole-second times then differ."""
    time.sleep(1.05 - time.time() % 1)


def test_an_edited_file_is_newer_than_the_last_build_and_an_unedited_one_keeps_its_time(
    api, kata_ids
):
    kata = kata_ids()
    first = _stamped(api, kata, "def answer():\n    return 54\n")
    _next_second()
    second = _stamped(api, kata, "def answer():\n    return 42\n")
    assert second["hiker.py"] > second["out.txt"], "the edit looks older than the last build"
    assert second["hiker.py"] % 10**9 != 0, "a sent file's time has whole seconds only"
    assert second["test_hiker.py"] == first["test_hiker.py"], "an unedited file was touched"


def test_an_edited_file_is_newer_even_than_a_build_output_dated_in_the_future(api, kata_ids):
    kata = kata_ids()
    _stamped(api, kata, "def answer():\n    return 54\n", "future")
    second = _stamped(api, kata, "def answer():\n    return 42\n")
    assert second["out.txt"] >= 4102444800 * 10**9
    assert second["hiker.py"] > second["out.txt"], "the edit looks older than the last build"


# 6. Per-uid kernel limits

KERNEL = """\
import ctypes
import errno
import fcntl
import os
import platform
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
IN_MODIFY, IN_DONT_FOLLOW = 0x2, 0x02000000
CLONE_NEWUSER = 0x10000000
SYSCALLS = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}
KEY_SPEC_SESSION_KEYRING, KEYCTL_JOIN_SESSION_KEYRING = -3, 1


def said(rc):
    return "made" if rc >= 0 else errno.errorcode[ctypes.get_errno()]


def sysctl(name):
    with open(f"/proc/sys/fs/{name}") as f:
        return int(f.read())


def hold(token, seconds=4):
    \"\"\"Says it holds what it took (a file named `token` in its kata volume, which the host
    can see under either runtime), and holds it.\"\"\"
    print(f"held-at={time.time()}")
    with open(f"/sandbox/{token}", "w") as said:
        said.write("held")
    time.sleep(seconds)
    print(f"released-at={time.time()}")


def instances():
    fds = []
    while (fd := libc.inotify_init1(0)) >= 0:
        fds.append(fd)
    print(f"error={said(fd)}")
    print(f"instances={len(fds)}")
    print(f"limit={sysctl('inotify/max_user_instances')}")
    return fds


def watches():
    paths = [os.path.join(d, f).encode() for d, _, fs in os.walk("/usr") for f in fs]
    fds, count, error = [], 0, "none"
    while error == "none" and len(fds) < 100:
        fds.append(libc.inotify_init1(0))
        if fds[-1] < 0:
            error = said(fds.pop())
            break
        made = set()
        for path in paths:
            wd = libc.inotify_add_watch(fds[-1], path, IN_MODIFY | IN_DONT_FOLLOW)
            if wd >= 0:
                made.add(wd)
            elif ctypes.get_errno() == errno.ENOSPC:
                error = "ENOSPC"
                break
        count += len(made)
    print(f"error={error}")
    print(f"watches={count}")
    print(f"limit={sysctl('inotify/max_user_watches')}")
    return fds


def pipes():
    made, size = [], 65536
    while size >= 65536 and len(made) < 400:
        made.append(os.pipe())
        size = fcntl.fcntl(made[-1][1], F_GETPIPE_SZ)
        try:  # a pipe of the largest size an unprivileged user may ask for: fewer pipes
            fcntl.fcntl(made[-1][1], F_SETPIPE_SZ, sysctl("pipe-max-size"))
        except OSError:
            pass
    pages = sum(fcntl.fcntl(w, F_GETPIPE_SZ) for _, w in made) // 4096
    print(f"pipes={len(made)}")
    print(f"last-size={size}")
    print(f"pages={pages}")
    print(f"limit={sysctl('pipe-user-pages-soft')}")
    return made


def namespaces_and_keys():
    numbers = SYSCALLS[platform.machine()]
    print(f"userns={said(libc.unshare(CLONE_NEWUSER))}")
    key = libc.syscall(numbers["add_key"], b"user", b"greenbar", b"x", 1, KEY_SPEC_SESSION_KEYRING)
    print(f"add_key={said(key)}")
    print(f"keyctl={said(libc.syscall(numbers['keyctl'], KEYCTL_JOIN_SESSION_KEYRING, None))}")


def probe(what):
    print(f"probed-at={time.time()}")
    if what == "instances":
        print(f"instance={said(libc.inotify_init1(0))}")
    elif what == "watches":
        fd = libc.inotify_init1(0)
        print(f"instance={said(fd)}")
        print(f"watch={said(libc.inotify_add_watch(fd, b'/sandbox', IN_MODIFY))}")
    elif what == "pipes":
        _, w = os.pipe()
        print(f"size={fcntl.fcntl(w, F_GETPIPE_SZ)}")
    else:
        namespaces_and_keys()


role, what = sys.argv[1], sys.argv[2]
if role == "hold":
    taken = {"instances": instances, "watches": watches, "pipes": pipes}.get(
        what, namespaces_and_keys
    )()
    hold(sys.argv[3])
else:
    probe(what)
"""


def _said(docker_client: docker.DockerClient, volume: str, token: str) -> bool:
    """Whether the holding run has written `token` into its kata volume (it holds)."""
    try:
        found = docker_client.api.inspect_volume(volume)["Mountpoint"]
    except docker.errors.NotFound:
        return False
    return (Path(found) / token).exists()


def while_another_run_holds(
    api: Any, what: str, docker_client: docker.DockerClient, redis_url: str, kata: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Runs a holder of `what` (in kata `kata`, whose volume tells when it holds) and, while
    it holds, a prober of the same; returns what each printed, having checked the probe fell
    inside the hold."""
    token = f"gb{uuid.uuid4().hex[:10]}"
    files = {"cyber-dojo.sh": f"python3 kernel.py hold {what} {token}", "kernel.py": KERNEL}
    holder = post(api, files, image=PYTHON, max_seconds=15, kata=kata)
    volume = kata_volume(redis_url, kata)
    try:
        wait_until(
            lambda: (
                _said(docker_client, volume, token)
                or api.get(f"/runs/{holder}").get_json()["state"] in FINAL
            ),
            20,
            "the holding run",
        )
        files = {"cyber-dojo.sh": f"python3 kernel.py probe {what}", "kernel.py": KERNEL}
        probed = run(api, files, image=PYTHON, max_seconds=5)
    finally:
        held = result_of(api, holder)
    held_said = verdicts(held["stdout"]["content"])
    probe_said = verdicts(probed["stdout"]["content"])
    assert held["outcome"] != "timed_out", held
    moments = [held_said.get("held-at"), probe_said.get("probed-at"), held_said.get("released-at")]
    assert None not in moments, (held, probed)
    held_at, probed_at, released_at = (float(str(moment)) for moment in moments)
    assert held_at < probed_at < released_at, "the probe did not fall inside the hold"
    return held_said, probe_said


@pytest.mark.slow
@pytest.mark.host_kernel
def test_one_run_holding_every_inotify_instance_it_may_have_leaves_another_run_its_own(
    api, docker_client, redis_url, kata_ids
):
    held, probed = while_another_run_holds(api, "instances", docker_client, redis_url, kata_ids())
    assert held["error"] == "EMFILE", held
    assert 0 < int(held["instances"]) <= int(held["limit"]) < 1024, "not the fd limit"
    assert probed["instance"] == "made", probed
    probe(api)


@pytest.mark.slow
@pytest.mark.host_kernel
def test_one_run_holding_every_inotify_watch_it_may_have_leaves_another_run_its_own(
    api, docker_client, redis_url, kata_ids
):
    held, probed = while_another_run_holds(api, "watches", docker_client, redis_url, kata_ids())
    assert held["error"] == "ENOSPC", held
    assert 0 < int(held["watches"]) <= int(held["limit"]), held
    assert (probed["instance"], probed["watch"]) == ("made", "made"), probed
    probe(api)


@pytest.mark.slow
@pytest.mark.host_kernel
def test_one_run_holding_more_pipe_buffers_than_allowed_leaves_another_run_full_pipes(
    api, docker_client, redis_url, kata_ids
):
    held, probed = while_another_run_holds(api, "pipes", docker_client, redis_url, kata_ids())
    # Beyond fs.pipe-user-pages-soft a new pipe gets one page (two on recent kernels).
    assert int(held["last-size"]) <= 8192, held
    assert int(held["pipes"]) < 400, held
    assert probed["size"] == "65536", probed
    probe(api)


@pytest.mark.slow
@pytest.mark.host_kernel
def test_no_run_can_make_a_user_namespace_or_a_keyring_while_another_run_tries_too(
    api, docker_client, redis_url, kata_ids
):
    held, probed = while_another_run_holds(api, "namespaces", docker_client, redis_url, kata_ids())
    for said in (held, probed):
        assert said["userns"] == "EPERM", said
        assert said["add_key"] in ("EPERM", "ENOSYS"), said
        assert said["keyctl"] in ("EPERM", "ENOSYS"), said
    probe(api)


# 7. The entry script under a fork bomb

# cyber-dojo/runner's test 1B5CD6 ("shell fork-bomb is contained"), sent unchanged in meaning.
SHELL_FORK_BOMB = "bomb() { echo bomb; bomb | bomb & }; bomb\n"
FORK_BOMB_PAIRS = 20


@pytest.mark.slow
def test_a_shell_fork_bomb_is_never_blamed_on_greenbar(api):
    files = {"cyber-dojo.sh": SHELL_FORK_BOMB}
    faulty = []
    for _ in range(FORK_BOMB_PAIRS):
        pair = [post(api, files, image=PYTHON, max_seconds=2) for _ in range(2)]
        for run_id in pair:
            result = result_of(api, run_id)
            if result["outcome"] == "faulty":
                faulty.append(result["log"])
    assert faulty == [], f"{len(faulty)} of {2 * FORK_BOMB_PAIRS} bombs were faulty: {faulty[0]}"
    probe(api)
