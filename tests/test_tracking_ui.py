"""What the MLflow UI shows first: the experiment's kind, the parent run's description, child runs' identity tags."""

from mlflow.tracking import MlflowClient

from raymir import tracking


def test_experiment_kind_description_and_identity_tags(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    old = client.create_experiment("older", artifact_location=(tmp_path / "a").as_uri())  # made before the tag existed
    for name in ("fresh", "older"):
        t = tracking.setup_experiment(uri, name, (tmp_path / "a").as_uri())
        assert client.get_experiment(t.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert t.experiment_id == old
    t = tracking.start_parent(t, sweep="s", params={"x": 1})
    child = tracking.log_trial(t, "genre/convnet/135", params={"task": "genre", "feature": "convnet", "layers": "135",
                                                               "C": 2.0}, metrics={"cv_accuracy": 0.5})
    tags = client.get_run(child).data.tags
    assert (tags["task"], tags["feature"], tags["layers"]) == ("genre", "convnet", "135") and "C" not in tags
    assert client.get_run(child).info.run_name == "genre convnet 135"
    tracking.describe(t, t.parent_run_id, "```\ntable\n```")
    assert client.get_run(t.parent_run_id).data.tags["mlflow.note.content"] == "```\ntable\n```"
