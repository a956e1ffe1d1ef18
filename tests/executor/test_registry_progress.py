"""Image push progress: each layer said once when done (n of all), bytes every few seconds."""

from __future__ import annotations

from typing import Any

import pytest

from covalent_eventbatch.executor import registry
from covalent_eventbatch.executor.errors import ImageError


class _Engine:
    """The JSON lines a Docker engine streams for a push (docker's API, decoded)."""

    def __init__(self, chunks: list[dict[str, Any]]) -> None:
        self.chunks = chunks
        self.api = self

    def push(self, repo: str, tag: str, auth_config: Any, stream: bool, decode: bool) -> Any:
        assert (repo, tag, stream, decode) == ("registry.example/repo", "t1", True, True)
        return iter(self.chunks)


def _pushing(layer: str, current: int, total: int) -> dict[str, Any]:
    return {
        "status": "Pushing",
        "id": layer,
        "progressDetail": {"current": current, "total": total},
    }


def test_layers_and_bytes_are_said_as_the_push_goes() -> None:
    chunks = [
        {"status": "The push refers to repository [registry.example/repo]"},
        {"status": "Preparing", "id": "aaa", "progressDetail": {}},
        {"status": "Preparing", "id": "bbb", "progressDetail": {}},
        {"status": "Preparing", "id": "ccc", "progressDetail": {}},
        {"status": "Layer already exists", "id": "ccc", "progressDetail": {}},
        _pushing("aaa", 10_000_000, 40_000_000),
        _pushing("bbb", 5_000_000, 10_000_000),
        _pushing("aaa", 30_000_000, 40_000_000),
        {"status": "Pushed", "id": "bbb", "progressDetail": {}},
        {"status": "Pushed", "id": "bbb", "progressDetail": {}},  # repeated: said once
        {"status": "Pushed", "id": "aaa", "progressDetail": {}},
        {"status": "t1: digest: sha256:abc size: 949", "progressDetail": {}},
    ]
    ticks = iter(range(0, 1000, 3))  # 3 s per chunk read
    said: list[str] = []
    registry.push(
        _Engine(chunks), "registry.example/repo:t1", None, said.append, clock=lambda: next(ticks)
    )
    assert [line for line in said if line.startswith("layer")] == [
        "layer ccc: Layer already exists (1 of 3 layers)",
        "layer bbb: Pushed (2 of 3 layers)",
        "layer aaa: Pushed (3 of 3 layers)",
    ]
    progress = [line for line in said if line.startswith("pushing")]
    assert progress and all(line.endswith("MB of the layers being sent") for line in progress)
    assert len(progress) < 4  # every few seconds, not every chunk


def test_a_refused_push_names_the_permission() -> None:
    chunks = [{"errorDetail": {"message": "denied"}, "error": "denied: not authorized"}]
    with pytest.raises(ImageError, match="ecr:InitiateLayerUpload"):
        registry.push(_Engine(chunks), "registry.example/repo:t1", None, print)
