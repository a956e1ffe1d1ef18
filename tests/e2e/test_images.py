"""The runtime image: built once with progress, found by tag after, not needed locally after."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor

from .harness import DirectRun

pytestmark = pytest.mark.e2e


def _image_build(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "covalent_eventbatch.cli", "image", "build", *extra],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
    )


def test_image_build_shows_progress_once_then_finds_the_tag(covalent_server) -> None:
    # A package the session's other images lack: a new tag, so a real build and push.
    cold = _image_build("--extra-pip-packages", "six")
    assert cold.returncode == 0, cold.stderr
    assert "Building runtime image" in cold.stderr
    assert "Step 1/7 : FROM python:" in cold.stderr
    assert "Pushed" in cold.stderr
    uri = cold.stdout.strip()
    assert uri.rsplit(":", 1)[1].startswith("py3.")

    warm = _image_build("--extra-pip-packages", "six")
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout.strip() == uri
    assert "Building" not in warm.stderr and "Step" not in warm.stderr


def test_no_docker_needed_once_the_image_exists(local_stack, monkeypatch) -> None:
    AWSBatchExecutor()  # the runtime image of this session exists after the tests above it
    DirectRun(AWSBatchExecutor())(lambda: "warm")  # make sure: built here if it was not
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    from covalent_eventbatch.executor.process import state

    state().image_uris.clear()  # forget this process's images: the lookup goes to ECR
    assert DirectRun(AWSBatchExecutor())(lambda: "no docker") == "no docker"


def test_prebuilt_image_uri_skips_building(local_stack, aws, monkeypatch) -> None:
    images = aws.client("ecr").describe_images(repositoryName="covalent-batch-job-images")
    tag = images["imageDetails"][0]["imageTags"][0]
    uri = f"127.0.0.1:{local_stack.registry_port}/covalent-batch-job-images:{tag}"
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert DirectRun(AWSBatchExecutor(container_image_uri=uri))(lambda: "prebuilt") == "prebuilt"


def test_build_without_docker_says_what_to_do(local_stack, monkeypatch) -> None:
    from covalent._shared_files.exceptions import TaskRuntimeError

    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    run = DirectRun(AWSBatchExecutor(extra_pip_packages=["a-package-never-built"]))
    with pytest.raises(TaskRuntimeError, match="no Docker engine answers"):
        run(lambda: 1)
    assert "container_image_uri" in run.stderr


def test_cleanup_removes_a_dispatch_and_nothing_else(local_stack, aws, capsys) -> None:
    from covalent_eventbatch.cli import main

    kept, removed = DirectRun(AWSBatchExecutor()), DirectRun(AWSBatchExecutor())
    kept(lambda: "kept")
    removed(lambda: "removed")
    s3 = aws.client("s3")

    def count(dispatch_id: str) -> int:
        return sum(
            s3.list_objects_v2(
                Bucket="covalent-eventbatch-local", Prefix=f"covalent/{kind}/{dispatch_id}/"
            ).get("KeyCount", 0)
            for kind in ("tasks", "markers")
        )

    assert count(removed.dispatch_id) == 4  # task.pkl, result.pkl, io.json and the marker
    assert main(["cleanup", removed.dispatch_id]) == 0
    assert f"{removed.dispatch_id}: deleted 4 objects" in capsys.readouterr().out
    assert count(removed.dispatch_id) == 0
    assert count(kept.dispatch_id) == 4


def test_status_and_a_second_up_after_jobs_have_run(local_stack, capsys) -> None:
    from covalent_eventbatch.cli import main
    from covalent_eventbatch.localaws import stack

    DirectRun(AWSBatchExecutor())(lambda: "a job has run")
    assert main(["local", "status"]) == 0
    assert "DOWN" not in capsys.readouterr().out
    before = dict(stack.StackState.load().pids)
    lines: list[str] = []
    stack.up(local_stack.moto_port, local_stack.registry_port, write_config=False, say=lines.append)
    # Nothing was started twice: the same processes, every part found running.
    assert stack.StackState.load().pids == before
    assert "running moto server" in " ".join(lines)
