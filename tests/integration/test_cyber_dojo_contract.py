"""cyber-dojo's image contract, end to end through the API and the real worker: bash where the
image has it, HOME and the CYBER_DOJO_* variables, the home helper files, sent files' mode."""

import json
import socket
import struct
import uuid
from pathlib import Path

import pytest
import redis

from app.externals.engine import Engine
from app.sandbox import feed, spec
from app.sandbox.feed import Limits
from app.sandbox.supervisor import SupervisorVolume
from app.sandbox.uids import UidAllocator
from tests.helpers import remove_kata, run, wait_until

BUSYBOX = "greenbar/busybox-sh"
PYTHON = "greenbar/python-pytest"
CYBER_DOJO = "greenbar/cyber-dojo-python-pytest"
START = Path(__file__).resolve().parents[2] / "images" / "cyber-dojo-python-pytest" / "start"
BASH_ONLY = 'source /dev/null\nif [[ "a" == a* ]]; then echo "bash $BASH_VERSION"; fi\n'


def test_cyber_dojo_sh_runs_with_bash_where_the_image_has_it(api):
    result = run(api, {"cyber-dojo.sh": BASH_ONLY}, image=PYTHON)
    assert result["stdout"]["content"].startswith("bash 5."), result
    assert result["stderr"]["content"] == ""
    assert result["status"] == 0


def test_cyber_dojo_sh_runs_with_sh_where_the_image_has_no_bash(api):
    script = 'echo "bash=${BASH_VERSION:-none}"; ls /bin/bash /usr/bin/bash 2>&1 | wc -l\n'
    result = run(api, {"cyber-dojo.sh": script}, image=BUSYBOX)
    assert result["stdout"]["content"] == "bash=none\n2\n", result
    assert result["status"] == 0


def run_view(api, files, image=BUSYBOX, **fields):
    """POSTs a run and waits for it; returns the whole view (its id included)."""
    response = api.post("/runs?wait=25", json={"image": image, "files": files, **fields})
    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert view["state"] == "done", view
    return view


# HOME and the CYBER_DOJO_* variables


def test_home_is_a_writable_home_sandbox_whose_files_are_not_returned(api):
    script = (
        'echo "home=$HOME"; cd ~ && pwd && echo cache > ~/.cache.txt && mkdir -p .tool/x\n'
        "echo kept > .tool/x/y && cat ~/.cache.txt && echo \"$(stat -c '%u %a' ~) $(id -u)\"\n"
    )
    result = run(api, {"cyber-dojo.sh": script}, image=PYTHON)
    lines = result["stdout"]["content"].splitlines()
    assert lines[:3] == ["home=/home/sandbox", "/home/sandbox", "cache"], result
    owner, mode, uid = lines[3].split()
    assert (owner, mode) == (uid, "755"), "the run's uid owns its home"
    assert result["created"] == {}
    assert result["status"] == 0


def test_the_cyber_dojo_variables_name_the_sandbox_the_image_and_the_run(api):
    script = 'env | grep "^CYBER_DOJO_" | sort\n'
    view = run_view(api, {"cyber-dojo.sh": script}, image=BUSYBOX)
    assert view["result"]["stdout"]["content"].splitlines() == [
        f"CYBER_DOJO_ID={view['id']}",
        f"CYBER_DOJO_IMAGE_NAME={BUSYBOX}",
        "CYBER_DOJO_RUNNER=greenbar",
        "CYBER_DOJO_SANDBOX=/sandbox",
    ]


@pytest.fixture
def kata(docker_client, redis_url):
    """A fresh kata name; its volume is removed afterwards whatever the test did."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    remove_kata(docker_client, redis_url, name)


def test_a_kata_runs_cyber_dojo_id_is_the_katas_name_in_every_run(api, kata):
    script = 'echo "$CYBER_DOJO_ID"\n'
    first = run(api, {"cyber-dojo.sh": script}, kata=kata)
    second = run(api, {"cyber-dojo.sh": script}, kata=kata)
    assert first["stdout"]["content"] == second["stdout"]["content"] == f"{kata}\n"


def test_the_home_tmpfs_is_bounded_writing_past_it_fails_with_no_space_not_an_oom_kill(api):
    script = (
        "dd if=/dev/zero of=$HOME/big bs=1M count=64 2>&1 | grep -o 'No space left on device'\n"
        'i=0; while [ $i -lt 4096 ] && true > "$HOME/f$i" 2>/dev/null; do i=$((i + 1)); done\n'
        'echo "files=$i"\n'
    )
    result = run(api, {"cyber-dojo.sh": script}, image=BUSYBOX)
    lines = result["stdout"]["content"].splitlines()
    assert lines[0] == "No space left on device", result
    assert 1000 < int(lines[1].removeprefix("files=")) < 2048, result
    assert result["outcome"] != "faulty"
    assert result["status"] == 0


# The home helper files


CLEANERS = """set -e
source ~/cyber_dojo_fs_cleaners.sh
mkdir -p cache/deep report && echo x > cache/deep/x && echo old > report/old.txt
echo gone > gone.txt && echo kept > kept.txt
cyber_dojo_reset_dirs report
echo new > report/new.txt
trap 'cyber_dojo_delete_dirs cache no-such-dir; cyber_dojo_delete_files gone.txt nothing' EXIT
echo ran
"""


def test_the_fs_cleaners_a_start_point_sources_keep_what_they_delete_out_of_the_result(api):
    result = run(api, {"cyber-dojo.sh": CLEANERS}, image=PYTHON)
    assert result["stdout"]["content"] == "ran\n", result["stderr"]
    assert result["status"] == 0
    assert set(result["created"]) == {"kept.txt", "report/new.txt"}


def test_the_fs_cleaners_also_serve_an_image_without_bash(api):
    script = CLEANERS.replace("source ~/", ". ~/")
    result = run(api, {"cyber-dojo.sh": script}, image=BUSYBOX)
    assert result["stdout"]["content"] == "ran\n", result["stderr"]
    assert set(result["created"]) == {"kept.txt", "report/new.txt"}


# Sent files' mode


def test_sent_files_arrive_0644_as_cyber_dojo_has_them_and_a_script_may_chmod_its_own(api):
    script = "stat -c '%a %n' cyber-dojo.sh deep/er/tool.sh\nchmod +x deep/er/tool.sh\n"
    script += "./deep/er/tool.sh\n"
    result = run(api, {"cyber-dojo.sh": script, "deep/er/tool.sh": "echo tool ran\n"})
    assert result["stdout"]["content"] == "644 cyber-dojo.sh\n644 deep/er/tool.sh\ntool ran\n"
    assert result["changed"] == {}, "a mode is not a change"


def test_a_kata_file_sent_again_unchanged_is_made_0644_again(api, kata):
    files = {"cyber-dojo.sh": "stat -c '%a' tool.sh; chmod 0700 tool.sh", "tool.sh": "true\n"}
    first = run(api, files, kata=kata)
    second = run(api, files, kata=kata)
    assert first["stdout"]["content"] == second["stdout"]["content"] == "644\n"


# An image shaped like cyber-dojo's, and its start point with cyber-dojo's standard header


def start_point() -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(START.iterdir())}


def test_the_start_point_has_cyber_dojos_header():
    script = start_point()["cyber-dojo.sh"]
    assert "source ~/cyber_dojo_fs_cleaners.sh" in script
    assert "${CYBER_DOJO_SANDBOX}" in script


def test_the_cyber_dojo_shaped_start_point_is_red_as_shipped_and_leaves_no_cache_behind(api):
    result = run(api, start_point(), image=CYBER_DOJO)
    assert result["outcome"] == "red", result
    assert result["status"] == 1
    assert "assert 54 == 42" in result["stdout"]["content"]
    assert result["created"] == {}, "its EXIT trap deleted .pytest_cache"
    assert result["changed"] == {} and result["deleted"] == []


def test_the_cyber_dojo_shaped_start_point_is_amber_with_a_syntax_error(api):
    files = {**start_point(), "hiker.py": "def answer(:\n    return 6 * 9\n"}
    result = run(api, files, image=CYBER_DOJO)
    assert result["outcome"] == "amber", result
    assert result["status"] == 2
    assert "SyntaxError" in result["stdout"]["content"]


def test_the_cyber_dojo_shaped_start_point_is_green_when_fixed(api):
    files = {**start_point(), "hiker.py": "def answer():\n    return 42\n"}
    result = run(api, files, image=CYBER_DOJO)
    assert result["outcome"] == "green", result
    assert "1 passed" in result["stdout"]["content"]
    assert result["created"] == {}


# The supervisor's side of the V frame: only CYBER_DOJO_* names, whatever the host sends


def _raw_run(settings, request_bytes: bytes) -> tuple[int | None, bytes]:
    """Sends `request_bytes` as the whole request to a fresh run container; returns its exit
    code and everything it wrote (docker's multiplexed stream, unparsed)."""
    engine = Engine.from_env()
    client = redis.Redis.from_url(settings.redis_url)
    uid = UidAllocator(client, settings.node, settings.uid_base, settings.uid_count).allocate()
    run_id = f"raw-{uuid.uuid4().hex[:16]}"
    name = spec.container_name(run_id)
    volume = SupervisorVolume(engine, client, settings).ensure(engine.image_id(BUSYBOX))
    labels = spec.run_labels(settings, run_id)
    engine.create(spec.spec(settings, engine.image_id(BUSYBOX), name, labels, uid, volume))
    try:
        sock = engine.attach(name)
        engine.start(name)
        sock.settimeout(10)
        sock.sendall(request_bytes)
        sock.shutdown(socket.SHUT_WR)
        said = b""
        while chunk := sock.recv(65536):
            said += chunk
        sock.close()
        wait_until(lambda: engine.exit_code(name) is not None, 10, "the container to end")
        return engine.exit_code(name), said
    finally:
        engine.remove(name)


def _frame(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


@pytest.mark.parametrize("line", [b"PATH=/sandbox", b"LD_PRELOAD=/sandbox/x.so", b"CYBER_DOJO_=x"])
def test_the_supervisor_refuses_a_variable_not_named_cyber_dojo(settings, images, line):
    limits = Limits(5, 100, 1).encoded()
    raw = feed.MAGIC + _frame(b"L", limits) + _frame(b"V", line + b"\n") + _frame(b"E", b"")
    code, said = _raw_run(settings, raw)
    assert code == 70, said
    assert b"a variable not named CYBER_DOJO_*" in said


def test_the_supervisor_refuses_a_home_file_over_its_bound(settings, images):
    big = struct.pack(">H", 1) + b"x" + struct.pack(">I", 0o644) + b"y" * 65536
    raw = feed.MAGIC + _frame(b"L", Limits(5, 100, 1).encoded()) + _frame(b"H", big)
    code, said = _raw_run(settings, raw + _frame(b"E", b""))
    assert code == 70, said
    assert b"an unknown or malformed request frame" in said


def test_the_cyber_dojo_shaped_start_point_through_cyber_dojos_runner_route_is_red(api):
    # As cyber-dojo's web asks: a GET with a JSON body; the Ruby lambda is the image's own.
    body = {"id": "34de2W-1", "files": start_point(), "manifest": {"image_name": CYBER_DOJO}}
    response = api.get("/run_cyber_dojo_sh", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    told = response.get_json()["run_cyber_dojo_sh"]
    assert (told["outcome"], told["status"]) == ("red", "1"), told
    assert told["created"] == {} and told["changed"] == {}
