"""Builds (app/images/builds.py) from a real git repository over a MemoryEngine and the unit
layer's Redis: what a build records at every turn, with no Docker."""

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.errors import InvalidRequest
from app.externals.clock import ManualClock
from app.externals.git import snapshot
from app.externals.memory_engine import MemoryEngine
from app.images.builds import LABEL_BUILT_BY, Builder, Builds, BuildState, BuildStore
from app.jobs.queues import BUILD_QUEUE, BUILD_TASK
from app.wiring import Externals, Stores

REGISTRY = "127.0.0.1:5999"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "track"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, {"Dockerfile": "FROM greenbar/busybox-sh\nCOPY rule /rule\n", "rule": "v1"}, "1")
    return repo


@pytest.fixture
def settings(repo: Path) -> Settings:
    return Settings.from_env(
        {}, build_sources=(f"demo={repo}",), build_registry=REGISTRY, deployment="unit"
    )


@pytest.fixture
def builds(store: Any) -> BuildStore:
    return BuildStore(store, 600)


def _builder(builds: BuildStore, engine: MemoryEngine, settings: Settings, **given: Any) -> Builder:
    return Builder(builds, engine, settings, **given)


def test_a_build_of_a_branch_is_built_from_its_commit_and_pushed_under_its_sha(
    repo: Path, settings: Settings, builds: BuildStore
) -> None:
    sha = _git(repo, "rev-parse", "main")
    engine = MemoryEngine()
    builds.create("b1", "demo", "main")
    view = _builder(builds, engine, settings).build("b1")
    image = f"{REGISTRY}/greenbar-builds/demo:git-{sha}"
    assert (view.state, view.sha, view.image, view.error) == (BuildState.BUILT, sha, image, "")
    assert image in engine.pushed()
    assert engine.image(image)["Config"]["Labels"][LABEL_BUILT_BY] == "unit"
    assert any("Successfully tagged" in line for line in view.log)
    found = engine.read_file(engine.image_id(image), ("/rule",), {}, 100)
    assert found is not None and found.content == b"v1"  # the commit's tree, built


def test_a_later_commit_builds_a_new_tag_and_an_old_sha_still_builds_its_own_tree(
    repo: Path, settings: Settings, builds: BuildStore
) -> None:
    first = _git(repo, "rev-parse", "main")
    second = _commit(repo, {"rule": "v2"}, "2")
    engine = MemoryEngine()
    builds.create("new", "demo", "main")
    builds.create("old", "demo", first[:12])
    builder = _builder(builds, engine, settings)
    assert builder.build("new").image.endswith(f":git-{second}")
    old = builder.build("old")
    assert old.sha == first
    found = engine.read_file(engine.image_id(old.image), ("/rule",), {}, 100)
    assert found is not None and found.content == b"v1"


def test_a_reference_the_repository_lacks_fails_and_says_so(
    settings: Settings, builds: BuildStore
) -> None:
    builds.create("b", "demo", "no-such-branch")
    view = _builder(builds, MemoryEngine(), settings).build("b")
    assert view.state == BuildState.FAILED and "has no commit named 'no-such-branch'" in view.error


def test_a_failing_step_fails_the_build_with_its_log_and_nothing_is_pushed(
    repo: Path, settings: Settings, builds: BuildStore
) -> None:
    _commit(repo, {"Dockerfile": "FROM greenbar/busybox-sh\nRUN false\n"}, "broken")
    engine = MemoryEngine()
    builds.create("b", "demo", "main")
    view = _builder(builds, engine, settings).build("b")
    assert view.state == BuildState.FAILED and "returned a non-zero code" in view.error
    assert any("RUN false" in line for line in view.log) and engine.pushed() == []


def test_a_tree_over_its_cap_is_refused_before_any_build(
    repo: Path, settings: Settings, builds: BuildStore
) -> None:
    _commit(repo, {"big": "x" * (2 * 1024 * 1024)}, "big")
    small = dataclasses.replace(settings, build_context_mib=1)
    builds.create("b", "demo", "main")
    view = _builder(builds, MemoryEngine(), small).build("b")
    assert view.state == BuildState.FAILED and "over its cap" in view.error


def test_a_built_image_over_its_cap_is_removed_and_never_pushed(
    repo: Path, settings: Settings, builds: BuildStore
) -> None:
    _commit(repo, {"rule": "x" * (2 * 1024 * 1024)}, "a big rule")
    engine = MemoryEngine()
    builds.create("b", "demo", "main")
    view = _builder(builds, engine, dataclasses.replace(settings, build_image_mib=1)).build("b")
    assert view.state == BuildState.FAILED and "over GREENBAR_BUILD_IMAGE_MIB=1" in view.error
    assert engine.pushed() == [] and engine.images() == []


def test_a_build_past_its_time_fails_and_says_which_limit(
    settings: Settings, builds: BuildStore
) -> None:
    clock = ManualClock()

    def slow_snapshot(source: str, reference: str, cap: int) -> Any:
        clock.advance(settings.build_seconds + 1)  # the clone alone took longer
        return snapshot(source, reference, cap)

    builds.create("b", "demo", "main")
    builder = _builder(builds, MemoryEngine(), settings, snapshot=slow_snapshot, monotonic=clock)
    view = builder.build("b")
    assert view.state == BuildState.FAILED and "GREENBAR_BUILD_SECONDS" in view.error


def test_a_redelivered_build_is_not_built_twice(settings: Settings, builds: BuildStore) -> None:
    engine = MemoryEngine()
    builds.create("b", "demo", "main")
    assert builds.start("b")  # a builder took it, then died
    view = _builder(builds, engine, settings).build("b")
    assert view.state == BuildState.FAILED and "not built twice" in view.error
    assert engine.pushed() == []


def test_an_engine_that_is_down_fails_the_build(settings: Settings, builds: BuildStore) -> None:
    engine = MemoryEngine()
    engine.down = True
    builds.create("b", "demo", "main")
    view = _builder(builds, engine, settings).build("b")
    assert view.state == BuildState.FAILED and view.error


def test_starting_a_build_records_it_queued_and_sends_it_to_the_builders(
    settings: Settings, store: Any
) -> None:
    stores = Stores.over(Externals(settings, store))
    sent: list[tuple[str, list[Any], str | None]] = []
    starts = Builds(stores, settings, lambda task, args, queue: sent.append((task, args, queue)))
    view = starts.start("demo", "main")
    assert view.state == BuildState.QUEUED and (view.track, view.git_reference) == ("demo", "main")
    assert sent == [(BUILD_TASK, [view.id], BUILD_QUEUE)]
    with pytest.raises(InvalidRequest, match="must be a track with a build source"):
        starts.start("ruby", "main")
    off = Settings.from_env({}, build_sources=settings.build_sources)
    with pytest.raises(InvalidRequest, match="GREENBAR_BUILD_REGISTRY"):
        Builds(stores, off, lambda *sent: None).start("demo", "main")
