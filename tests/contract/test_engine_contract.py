"""The contract of greenbar's door to a node's engine: every test runs against the real
dockerd (through `Engine`) and against `MemoryEngine`, so the stand-in the unit tests use
behaves as the real thing does on the verbs the run path needs."""

import io
import socket
import tarfile

import pytest

from app.errors import EngineUnavailable, ImageMissing
from app.externals.engine import ContainerState
from tests.contract.conftest import IMAGE, IMAGE_FILES, LABEL, ROOT, Side
from tests.contract.programs import (
    EATS_MEMORY,
    ECHOES_STDIN,
    SLEEPS,
    WAITS_FOR_A_LINE,
    WRITES_BOTH,
    demultiplexed,
)
from tests.helpers import wait_until

MISSING = "greenbar/no-such-image:never"
MIB = 1024 * 1024


def _ended(side: Side, name: str) -> int:
    """The exit code of container `name`, once its program has ended."""
    wait_until(lambda: side.engine.exit_code(name) is not None, 10, f"{name} to end")
    code = side.engine.exit_code(name)
    assert code is not None
    return code


def test_a_program_s_stdout_and_stderr_arrive_framed_and_its_exit_code_is_kept(side):
    name = side.name("both")
    side.engine.create(side.spec(name, WRITES_BOTH))
    sock = side.engine.attach(name)
    side.engine.start(name)
    with sock:
        assert demultiplexed(sock) == {1: b"out", 2: b"err"}
    assert _ended(side, name) == 3
    assert side.engine.state(name) == ContainerState(running=False, exit_code=3, oom_killed=False)


def test_what_the_host_sends_on_stdin_reaches_the_program(side):
    name = side.name("echo")
    side.engine.create(side.spec(name, ECHOES_STDIN))
    sock = side.engine.attach(name)
    side.engine.start(name)
    sent = b"GBRUN01\n" + bytes(range(256)) * 1000  # more than one socket buffer
    with sock:
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        assert demultiplexed(sock) == {1: sent}
    assert _ended(side, name) == 0
    if side.memory is not None:
        assert side.memory.received(name) == sent


def test_a_created_container_is_not_running_and_has_exit_code_zero(side):
    name = side.name("created")
    made = side.engine.create(side.spec(name, WRITES_BOTH))
    assert made and made != name  # an id
    assert side.engine.exit_code(name) == 0
    assert side.engine.exit_code(made) == 0  # its id names it too
    assert side.engine.state(name) == ContainerState(running=False, exit_code=0, oom_killed=False)


def test_a_running_container_has_no_exit_code_and_once_removed_is_gone(side):
    name = side.name("sleeps")
    side.engine.create(side.spec(name, SLEEPS))
    side.engine.start(name)
    assert side.engine.exit_code(name) is None
    assert side.engine.state(name) == ContainerState(running=True, exit_code=0, oom_killed=False)
    side.engine.remove(name)
    assert side.engine.state(name) is None
    assert side.engine.labelled(f"greenbar.contract={side.run}") == []


def test_removing_a_running_container_ends_its_attached_stream(side):
    name = side.name("waits")
    side.engine.create(side.spec(name, WAITS_FOR_A_LINE))
    sock = side.engine.attach(name)
    side.engine.start(name)
    with sock:
        side.engine.remove(name)
        assert demultiplexed(sock) == {}


def test_a_renamed_container_answers_to_its_new_name_only(side):
    old, new = side.name("old"), side.name("new")
    side.engine.create(side.spec(old, WAITS_FOR_A_LINE))
    side.engine.start(old)
    side.engine.rename(old, new)
    assert side.engine.state(old) is None
    assert side.engine.exit_code(new) is None  # still running, under its new name
    mine = side.engine.labelled(f"greenbar.contract={side.run}")
    assert [c.name for c in mine] == [new]


def test_a_name_in_use_is_refused_to_create_and_to_rename(side):
    first, second = side.name("first"), side.name("second")
    side.engine.create(side.spec(first, WRITES_BOTH))
    side.engine.create(side.spec(second, WRITES_BOTH))
    with pytest.raises(EngineUnavailable):
        side.engine.create(side.spec(first, WRITES_BOTH))
    with pytest.raises(EngineUnavailable):
        side.engine.rename(second, first)


def test_an_absent_container_has_no_state_and_removing_it_is_not_an_error(side):
    name = side.name("never")
    assert side.engine.state(name) is None
    side.engine.remove(name)
    for verb in (side.engine.exit_code, side.engine.start, side.engine.attach):
        with pytest.raises(EngineUnavailable):
            verb(name)
    with pytest.raises(EngineUnavailable):
        side.engine.rename(name, side.name("other"))


def test_an_image_the_node_does_not_hold_is_image_missing(side):
    with pytest.raises(ImageMissing):
        side.engine.image_id(MISSING)
    with pytest.raises(ImageMissing):
        side.engine.image(MISSING)
    spec = {**side.spec(side.name("missing"), WRITES_BOTH), "image": MISSING}
    with pytest.raises(ImageMissing):
        side.engine.create(spec)
    with pytest.raises(ImageMissing):
        side.engine.read_file(MISSING, ("/etc/passwd",), side.labels, 4096)
    assert side.engine.remove_image(MISSING) == "missing"


def test_an_image_is_listed_and_inspected_under_its_id_and_tag(side):
    image_id = side.engine.image_id("greenbar/busybox-sh")  # no tag: latest
    assert image_id.startswith("sha256:") and len(image_id) == len("sha256:") + 64
    assert side.engine.image_id(image_id) == image_id
    inspected = side.engine.image(side.image)
    assert inspected["Id"] == image_id and side.image in inspected["RepoTags"]
    listed = [i for i in side.engine.images() if i["Id"] == image_id]
    assert len(listed) == 1 and side.image in listed[0]["RepoTags"]


def test_labelled_finds_a_container_by_key_or_by_key_and_value_until_it_is_removed(side):
    name = side.name("labelled")
    side.engine.create(side.spec(name, WRITES_BOTH))
    by_value = side.engine.labelled(f"greenbar.contract={side.run}")
    assert [(c.name, c.labels) for c in by_value] == [(name, side.container_labels)]
    assert side.engine.image(side.image)["Config"]["Labels"]  # so some were inherited
    assert name in [c.name for c in side.engine.labelled("greenbar.contract")]
    assert side.engine.labelled(f"greenbar.contract={side.run}-not") == []
    side.engine.remove(name)
    assert name not in [c.name for c in side.engine.labelled("greenbar.contract")]


def test_a_volume_keeps_the_labels_it_was_made_with_and_is_listed_by_them(side):
    name = side.name("volume")
    assert side.engine.volume_labels(name) is None
    assert side.engine.create_volume(name, side.labels) == side.labels
    again = side.engine.create_volume(name, {**side.labels, "greenbar.kind": "other"})
    assert again == side.labels  # the first creator's
    assert side.engine.volume_labels(name) == side.labels
    assert side.engine.volumes([f"greenbar.contract={side.run}", "greenbar.kind=contract"]) == [
        (name, side.labels)
    ]
    assert side.engine.volumes([f"greenbar.contract={side.run}", "greenbar.kind=other"]) == []
    assert side.engine.remove_volume(name) == "removed"
    assert side.engine.remove_volume(name) == "missing"
    assert side.engine.volume_labels(name) is None


def test_a_volume_a_container_mounts_is_busy_until_the_container_is_removed(side):
    volume, name = side.name("mounted"), side.name("mounter")
    side.engine.create_volume(volume, side.labels)
    assert side.engine.users_of(volume) == []
    binds = {volume: {"bind": "/data", "mode": "rw"}}
    side.engine.create(side.spec(name, WAITS_FOR_A_LINE, binds=binds))
    assert side.engine.users_of(volume) == [(side.container_labels, False)]
    side.engine.start(name)
    assert side.engine.users_of(volume) == [(side.container_labels, True)]
    assert side.engine.mount_source(name, "/data")
    assert side.engine.mount_source(name, "/elsewhere") is None
    assert side.engine.remove_volume(volume) == "busy"
    side.engine.remove(name)
    assert side.engine.users_of(volume) == []
    assert side.engine.remove_volume(volume) == "removed"


def test_ensure_running_creates_and_starts_a_container_once(side):
    name = side.name("held")
    spec = side.spec(name, WAITS_FOR_A_LINE)
    side.engine.ensure_running(spec)
    side.engine.ensure_running(spec)  # exists and runs: nothing to do
    assert side.engine.exit_code(name) is None
    assert [c.name for c in side.engine.labelled(f"greenbar.contract={side.run}")] == [name]


def test_a_container_killed_for_using_more_than_its_memory_says_so(side):
    name = side.name("oom")
    limits = {"mem_limit": 16 * MIB, "memswap_limit": 16 * MIB}
    side.engine.create(side.spec(name, EATS_MEMORY, **limits))
    side.engine.start(name)
    assert _ended(side, name) == 137
    # dockerd may record the kernel's OOM event a moment after the exit (seen once in a few
    # dozen runs under load): the flag is waited for, not read once.
    wait_until(lambda: side.engine.state(name).oom_killed, 5, f"{name}'s OOM flag")


def test_read_file_gives_the_first_path_the_image_holds_within_its_cap(side):
    image_id = side.engine.image_id(side.image)
    path = "/usr/local/bin/red_amber_green.py"
    content = (ROOT / IMAGE_FILES[path]).read_bytes()
    found = side.engine.read_file(image_id, ("/no/such/file", path), side.labels, 4096)
    assert found is not None and (found.path, found.content, found.problem) == (path, content, "")
    too_big = side.engine.read_file(image_id, (path,), side.labels, len(content) - 1)
    assert too_big is not None and too_big.content == b"" and "over the" in too_big.problem
    folder = side.engine.read_file(image_id, ("/usr/local/bin",), side.labels, 4096)
    assert folder is not None and "is a directory" in folder.problem
    assert side.engine.read_file(image_id, ("/no/such/file",), side.labels, 4096) is None


def test_load_volume_writes_its_files_unless_the_marker_is_there(side):
    volume = side.name("loaded")
    side.engine.create_volume(volume, side.labels)
    image_id = side.engine.image_id(side.image)
    files = {"tool": (b"#!/bin/sh\n", 0o555), "done": (b"yes", 0o444)}
    assert side.engine.load_volume(volume, image_id, files, "done", side.labels)
    assert not side.engine.load_volume(volume, image_id, files, "done", side.labels)
    assert side.engine.users_of(volume) == []  # the loading container is gone


def _context(files: dict[str, bytes]) -> bytes:
    """A build context: a tar of `files`, the Dockerfile among them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(content)
            archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def test_a_build_makes_a_labelled_image_holding_its_context_and_a_failing_step_says_so(side):
    image = f"greenbar-contract-build/{side.run}:built"
    dockerfile = f"FROM {IMAGE}\nCOPY rule /rule\n".encode()
    context = _context({"Dockerfile": dockerfile, "rule": b"built here"})
    try:
        events = list(side.engine.build_events(context, image, 256, side.labels))
        assert not [e for e in events if "error" in e], events
        built = side.engine.image(image)
        assert built["Config"]["Labels"][LABEL] == side.run and built["Size"] > 0
        found = side.engine.read_file(side.engine.image_id(image), ("/rule",), side.labels, 100)
        assert found is not None and found.content == b"built here"
        broken = _context({"Dockerfile": f"FROM {IMAGE}\nRUN false\n".encode()})
        failed = list(side.engine.build_events(broken, f"{image}-broken", 256, side.labels))
        assert any("non-zero code" in str(e.get("error", "")) for e in failed), failed
        with pytest.raises(ImageMissing):
            side.engine.image_id(f"{image}-broken")
    finally:
        side.engine.remove_image(image)
