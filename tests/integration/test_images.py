"""Real-Docker tests of the bundled sandbox images built by ``images/build.py``.

The images are built (or found up to date) once per module; a fresh machine spends about a
minute on the python base's debootstrap.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import docker
import pytest

REPO_DIR = Path(__file__).resolve().parents[2]
IMAGES_DIR = REPO_DIR / "images"
BUILD_SCRIPT = IMAGES_DIR / "build.py"
NAMES = ("busybox-sh", "python-pytest")
TEST_LABELS = {"greenbar.test": "images"}
TMPFS = {"/sandbox": "exec,size=64m,uid=41966,gid=51966", "/tmp": "size=16m"}
TOOLS = ("sh", "tar", "head", "cat", "mkfifo", "setsid", "sleep", "kill")
TOOLS_SCRIPT = f"""
id -u; id -g
for tool in {" ".join(TOOLS)}; do
  found=no; IFS=:
  for dir in $PATH; do [ -x "$dir/$tool" ] && found=yes; done
  unset IFS
  [ "$found" = yes ] || echo "missing: $tool"
done
mkfifo /tmp/fifo && {{ echo through-fifo > /tmp/fifo & }}
head -n 1 < /tmp/fifo | cat
env setsid sleep 30 & pid=$!
env kill "$pid"; wait "$pid"; echo "sleep ended with $?"
printf 'a\\n' > /sandbox/a && tar -C /sandbox -cf - a | tar -tf -
"""
BROKEN = {
    "busybox-sh": ("hiker.sh", b"answer()\n{\n  echo $((6 * 9)\n"),
    "python-pytest": ("hiker.py", b"def answer(:\n    return 6 * 9\n"),
}
FIXED = {
    "busybox-sh": ("hiker.sh", b"answer()\n{\n  echo 42\n}\n"),
    "python-pytest": ("hiker.py", b"def answer():\n    return 42\n"),
}
RED_OUTPUT = {"busybox-sh": "FAILED: expected 42, got 54", "python-pytest": "assert 54 == 42"}
GREEN_OUTPUT = {"busybox-sh": "PASSED", "python-pytest": "1 passed"}


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    """Loads images/build.py by path (its sibling helper modules need images/ on sys.path)."""
    if str(IMAGES_DIR) not in sys.path:
        sys.path.insert(0, str(IMAGES_DIR))
    spec = importlib.util.spec_from_file_location("greenbar_images_build", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    """A Docker client; on teardown removes any container these tests left behind."""
    docker_client = docker.from_env(timeout=900)
    yield docker_client
    for container in docker_client.containers.list(all=True, filters={"label": "greenbar.test"}):
        if container.labels.get("greenbar.test") == "images":
            container.remove(force=True)
    docker_client.close()


@pytest.fixture(scope="module")
def image_ids(builder: ModuleType, client: docker.DockerClient) -> dict[str, str]:
    """Builds every image that is missing or stale; returns image ids by name."""
    return {name: builder.build_image(client, name) for name in NAMES}


def _start_files(name: str, **replaced: bytes) -> dict[str, bytes]:
    """Returns an image's start files, with some contents replaced."""
    folder = IMAGES_DIR / name / "start"
    files = {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}
    return files | replaced


def _tar_base64(files: dict[str, bytes]) -> str:
    """Packs files into a tar and returns it base64 encoded, on one line."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for filename, data in files.items():
            info = tarfile.TarInfo(filename)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode()


def run_sandboxed(
    client: docker.DockerClient, name: str, script: str, files: dict[str, bytes] | None = None
) -> tuple[int, str, str]:
    """Runs a shell script in a hardened container of an image, after unpacking files.

    Args:
        client: Docker client.
        name: Image folder name.
        script: Shell script to run in /sandbox as the sandbox user.
        files: Files to put into /sandbox first, sent as a base64 tar inside the command.

    Returns:
        The exit status, stdout and stderr.
    """
    unpack = f"echo {_tar_base64(files)} | base64 -d | tar -C /sandbox -xf - && " if files else ""
    container = client.containers.create(
        f"greenbar/{name}:latest",
        ["sh", "-c", unpack + script],
        user="41966:51966",
        network_mode="none",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        pids_limit=64,
        tmpfs=TMPFS,
        labels=TEST_LABELS,
    )
    try:
        container.start()
        status = container.wait(timeout=120)["StatusCode"]
        stdout = container.logs(stdout=True, stderr=False).decode()
        stderr = container.logs(stdout=False, stderr=True).decode()
        return status, stdout, stderr
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("name", NAMES)
def test_image_exists_with_content_hash_label(
    builder: ModuleType, client: docker.DockerClient, image_ids: dict[str, str], name: str
) -> None:
    image = client.images.get(f"greenbar/{name}:latest")
    assert image.id == image_ids[name]
    assert image.labels["greenbar.content-hash"] == builder.content_hash(name)


@pytest.mark.parametrize("name", NAMES)
def test_second_build_is_up_to_date(
    client: docker.DockerClient, image_ids: dict[str, str], name: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"greenbar/{name}:latest: up to date (" in result.stdout
    assert client.images.get(f"greenbar/{name}:latest").id == image_ids[name]


def test_unknown_image_name_fails_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "no-such-image"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "unknown image(s): no-such-image" in result.stderr


@pytest.mark.parametrize("name", NAMES)
def test_sandbox_user_and_tools(
    client: docker.DockerClient, image_ids: dict[str, str], name: str
) -> None:
    status, stdout, stderr = run_sandboxed(client, name, TOOLS_SCRIPT)
    assert status == 0, stderr
    assert stdout.splitlines() == [
        "41966",
        "51966",
        "through-fifo",
        "sleep ended with 143",
        "a",
    ], stdout + stderr


@pytest.mark.parametrize("name", NAMES)
def test_start_files_fail_red(
    client: docker.DockerClient, image_ids: dict[str, str], name: str
) -> None:
    status, stdout, _ = run_sandboxed(client, name, "sh cyber-dojo.sh", _start_files(name))
    assert status == 1, stdout
    assert RED_OUTPUT[name] in stdout


@pytest.mark.parametrize("name", NAMES)
def test_syntax_error_is_amber(
    client: docker.DockerClient, image_ids: dict[str, str], name: str
) -> None:
    filename, data = BROKEN[name]
    files = _start_files(name, **{filename: data})
    status, stdout, stderr = run_sandboxed(client, name, "sh cyber-dojo.sh", files)
    assert status not in (0, 1), stdout + stderr
    if name == "busybox-sh":
        assert status == 2
        assert "hiker.sh could not be parsed" in stdout


@pytest.mark.parametrize("name", NAMES)
def test_fixed_hiker_is_green(
    client: docker.DockerClient, image_ids: dict[str, str], name: str
) -> None:
    filename, data = FIXED[name]
    files = _start_files(name, **{filename: data})
    status, stdout, stderr = run_sandboxed(client, name, "sh cyber-dojo.sh", files)
    assert status == 0, stdout + stderr
    assert GREEN_OUTPUT[name] in stdout
