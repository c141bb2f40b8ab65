"""A trial's own compute as a Ray task holding the trial's declared resources (``fanout.run_as_task``)."""

import pytest

from raymir.config import SearchConfig
from raymir.fanout import run_as_task, task_resources


def test_a_task_holds_the_cpus_and_gpus_its_search_section_declares():
    assert task_resources(SearchConfig(cpus_per_trial=2)) == {"num_cpus": 2}
    assert task_resources(SearchConfig(cpus_per_trial=1, gpus_per_trial=0.5)) == {"num_cpus": 1, "num_gpus": 0.5}


def test_run_as_task_runs_where_ray_puts_it_with_the_declared_cpus(ray_session):
    import ray

    def _held() -> dict:  # defined here: Ray ships it by value (the workers cannot import test modules)
        import ray
        import torch

        return ray.get_runtime_context().get_assigned_resources() | {"threads": torch.get_num_threads()}

    held, node = run_as_task(_held, search=SearchConfig(cpus_per_trial=2))
    assert held == {"CPU": 2.0, "threads": 2}  # the task held 2 CPUs and torch used 2 threads
    assert node in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    held, _ = run_as_task(_held, search=SearchConfig(cpus_per_trial=1))
    assert held == {"CPU": 1.0, "threads": 1}


def test_an_error_inside_the_task_keeps_its_type_and_message(ray_session):
    def _fails(row: int) -> None:
        raise ValueError(f"probe genre: row {row} is NaN")

    with pytest.raises(ValueError, match="probe genre: row 7 is NaN"):
        run_as_task(_fails, 7, search=SearchConfig())
