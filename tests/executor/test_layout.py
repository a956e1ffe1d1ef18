"""Names and S3 keys of a task."""

from __future__ import annotations

import re

from covalent_eventbatch.executor.layout import TaskLocation, dispatch_prefixes, safe_name

DISPATCH = "5f0c6c1e-1b9b-4f5e-9b7e-0d3c1d9f2a11"


def test_keys_follow_the_documented_layout() -> None:
    loc = TaskLocation("bucket", "covalent", DISPATCH, 7)
    assert loc.task_key == f"covalent/tasks/{DISPATCH}/7/task.pkl"
    assert loc.result_key == f"covalent/tasks/{DISPATCH}/7/result.pkl"
    assert loc.io_key == f"covalent/tasks/{DISPATCH}/7/io.json"
    assert loc.marker_key == f"covalent/markers/{DISPATCH}/7.json"
    assert loc.marker_key.startswith(loc.markers_prefix)
    assert dispatch_prefixes("covalent", DISPATCH) == [
        f"covalent/tasks/{DISPATCH}/",
        f"covalent/markers/{DISPATCH}/",
    ]


def test_empty_prefix_has_no_leading_slash() -> None:
    assert TaskLocation("b", "", DISPATCH, 1).marker_key == f"markers/{DISPATCH}/1.json"


def test_execution_name_is_unique_per_electron_and_valid() -> None:
    a = TaskLocation("b", "p", DISPATCH, 1).execution_name
    b = TaskLocation("b", "p", DISPATCH, 2).execution_name
    assert a != b
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", a)


def test_long_names_are_cut_with_a_hash_and_stay_distinct() -> None:
    long_a = safe_name("x" * 100, 1)
    long_b = safe_name("x" * 100, 2)
    assert len(long_a) == 80 and len(long_b) == 80
    assert long_a != long_b
    assert safe_name("a b/c", 1) == "a-b-c-1"
