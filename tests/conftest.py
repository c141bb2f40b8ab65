import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole test session (2 CPUs, small object store)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, object_store_memory=128 * 1024**2, include_dashboard=True,
                 dashboard_host="127.0.0.1", logging_level="WARNING", log_to_driver=False,
                 resources={"raymir_driver": 1000})
    yield ray


def pytest_collection_modifyitems(items):
    """A test that starts Ray (through the ``ray_session`` fixture) is an integration test; modules whose
    tests start MLflow or whole sweeps say so themselves (``pytestmark``). The rest is the fast lane:
    ``python -m pytest -m "not slow and not integration"``."""
    for item in items:
        if "ray_session" in item.fixturenames:
            item.add_marker(pytest.mark.integration)
