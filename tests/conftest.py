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


@pytest.fixture
def torch_file(tmp_path):
    """A tiny 3-layer torch encoder module file (``test_external_encoders.TORCH_MODULE``; 8 kHz)."""
    from test_external_encoders import TORCH_MODULE

    f = tmp_path / "tiny_encoder.py"
    f.write_text(TORCH_MODULE)
    return f


@pytest.fixture
def hear_file(tmp_path):
    """A tiny HEAR-API module file (``test_external_encoders.HEAR_MODULE``; scene [n, 4], timestamps [n, t, 3])."""
    from test_external_encoders import HEAR_MODULE

    f = tmp_path / "tiny_hear.py"
    f.write_text(HEAR_MODULE)
    return f
