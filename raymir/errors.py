"""The errors a user can cause, each reported as one clear message without a traceback.

``ConfigError``: a sweep file or ``--set`` override is invalid (every problem listed at once).
``DatasetError``: the data cannot serve the sweep (unreadable metadata, no usable clip, a label
the recipe needs is missing, …); the message names the file, column, row or label.
``ModelFileError``: a released model file cannot become one of raymir's nets (not HDF5, truncated,
another architecture); the message names the file, the layer and weight, and both shapes.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A sweep file (or override) is invalid; ``problems`` lists every issue found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))


class DatasetError(ValueError):
    """The data cannot serve a sweep at all (no usable clips, unreadable metadata, a missing label, …)."""


class ModelFileError(ValueError):
    """A model file cannot be read into raymir's net: unreadable, truncated, or a layer or weight that is missing,
    unexpected or of another shape than the architecture's."""
