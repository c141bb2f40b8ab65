"""cluster.yaml and cluster-onprem.yaml: Ray's own offline validation (what `ray up` runs first) and
the safety points: dashboard on localhost, nothing but SSH open to the world, same raymir everywhere."""

import copy
import re
from pathlib import Path

import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _prepared(name: str) -> tuple[dict, dict]:
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((ROOT / name).read_text())
    cfg = prepare_config(copy.deepcopy(raw))
    validate_config(cfg)  # raises on any schema error
    return raw, cfg


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-onprem.yaml"])
def test_ray_validates_the_cluster_file_and_its_safety_points(name):
    raw, cfg = _prepared(name)
    head = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0 " not in head.split("mlflow server")[0]
    assert "mlflow server" in head and "--artifacts-destination $RAYMIR_STORAGE/mlflow" in head
    assert "--allowed-hosts" in head  # host-header checks stay on
    assert raw["file_mounts"]["~/raymir"] == "."  # this checkout, installed on every node:
    setup = " ".join(cfg["setup_commands"])
    assert 'pip install -q -e "~/raymir"' in setup and f"ray[default]=={ray.__version__}" in setup
    assert "RAYMIR_STORAGE=" in setup and "MLFLOW_TRACKING_URI" in " ".join(cfg["head_setup_commands"])
    # token authentication on every node, with the launching machine's token
    assert raw["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    for cmd in (c for c in cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"] if "ray start" in c):
        assert cmd.startswith("export RAY_AUTH_MODE=token;"), cmd


def test_aws_node_types_have_explicit_resources_and_only_ssh_is_open():
    raw, cfg = _prepared("cluster.yaml")
    types = raw["available_node_types"]
    assert all("CPU" in t["resources"] and "GPU" in t["resources"] for t in types.values())
    head = types[raw["head_node_type"]]["resources"]
    assert head["GPU"] == 0 and head["raymir_driver"] > 0  # trial drivers live on the head
    assert any(t["resources"]["GPU"] >= 1 and t.get("max_workers", 0) > 0 for t in types.values())  # pretraining
    assert any(t["resources"]["GPU"] == 0 and t.get("max_workers", 0) > 0 for t in types.values())  # probe grids
    rules = raw["provider"]["security_group"]["IpPermissions"]
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(22, 22)]
    assert all(ip["CidrIp"] != "0.0.0.0/0" for r in rules for ip in r.get("IpRanges", []))
    assert re.search(r"RAYMIR_STORAGE=s3://", " ".join(raw["setup_commands"]))


def test_ray_rejects_a_broken_cluster_file():
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    raw["head_start_ray_commands"][1] = {"not": "a command"}
    with pytest.raises(Exception, match="is not of type 'string'"):
        validate_config(prepare_config(raw))
