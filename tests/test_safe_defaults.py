"""Safe defaults: weights-only model loading, no evaluated config, servers on localhost."""

import ast
from pathlib import Path

import pytest
import torch

import raymir
from raymir.train import job as trainjob

SOURCES = sorted(Path(raymir.__file__).parent.rglob("*.py"))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else (
                f"{f.value.id}.{f.attr}" if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else "")
            yield name, node


def test_every_torch_load_is_weights_only_and_nothing_evaluates_config():
    torch_loads = 0
    for path in SOURCES:
        text = path.read_text()
        for name, node in _calls(ast.parse(text)):
            where = f"{path.name}:{node.lineno}"
            if name == "torch.load":
                torch_loads += 1
                kw = {k.arg: k.value for k in node.keywords}
                assert isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True, where
            assert name not in ("eval", "exec", "yaml.load", "yaml.unsafe_load", "pickle.load", "pickle.loads"), where
        assert "0.0.0.0" not in text, f"{path.name}: a server bound to every address"
    assert torch_loads >= 4  # the scan does see the loads


def test_a_checkpoint_holding_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this would run on load",))

    torch.save({"model": Payload()}, tmp_path / trainjob.CHECKPOINT_FILE)
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported global"):
        trainjob.load_state(tmp_path)


def test_storage_is_the_flag_then_the_variable_then_the_output(tmp_path, monkeypatch):
    from raymir.session import resolve_storage

    monkeypatch.delenv("RAYMIR_STORAGE", raising=False)
    assert resolve_storage(None, tmp_path) == str(tmp_path / "ray")
    monkeypatch.setenv("RAYMIR_STORAGE", "s3://bucket/raymir")
    assert resolve_storage(None, tmp_path) == "s3://bucket/raymir"
    monkeypatch.chdir(tmp_path)
    assert resolve_storage("rel/dir", tmp_path / "x") == str(tmp_path / "rel" / "dir")  # absolute for trials
