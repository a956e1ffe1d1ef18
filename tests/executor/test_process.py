"""The process state: one set of clients per credentials/region/endpoint, forgotten by reset()."""

from __future__ import annotations

from covalent_eventbatch.executor.aws import clients_for
from covalent_eventbatch.executor.process import ProcessState, state
from covalent_eventbatch.executor.settings import ExecutorSettings


def test_clients_are_shared_per_endpoint_and_forgotten_on_reset() -> None:
    shared = ProcessState()
    local = ExecutorSettings.resolve({"endpoint_url": "http://127.0.0.1:1", "region": "eu-west-1"})
    other = ExecutorSettings.resolve({"endpoint_url": "http://127.0.0.1:2", "region": "eu-west-1"})
    first = shared.clients_for(local)
    assert shared.clients_for(ExecutorSettings.resolve({**local.to_config()})) is first
    assert shared.clients_for(other) is not first
    shared.image_uris[("tag", "repo", "")] = "uri"
    gate, markers, packs = shared.definition_gate, shared.markers, shared.packs
    shared.reset()
    assert shared.clients_for(local) is not first
    assert shared.image_uris == {}
    assert shared.definition_gate is not gate
    assert shared.markers is not markers and shared.packs is not packs


def test_prepare_locks_are_one_per_key() -> None:
    shared = ProcessState()
    assert shared.prepare_lock((1, "b", "r")) is shared.prepare_lock((1, "b", "r"))
    assert shared.prepare_lock((1, "b", "r")) is not shared.prepare_lock((2, "b", "r"))


def test_the_executor_clients_are_the_process_states() -> None:
    settings = ExecutorSettings.resolve({"endpoint_url": "http://127.0.0.1:3"})
    assert clients_for(settings) is state().clients_for(settings)
