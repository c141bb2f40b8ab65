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
