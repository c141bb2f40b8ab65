"""The two errors a user can cause, each reported as one clear message without a traceback.

``ConfigError``: a sweep file or ``--set`` override is invalid (every problem listed at once).
``DatasetError``: the data cannot serve the sweep (unreadable metadata, no usable clip, a label
the recipe needs is missing, …); the message names the file, column, row or label.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A sweep file (or override) is invalid; ``problems`` lists every issue found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))


class DatasetError(ValueError):
    """The data cannot serve a sweep at all (no usable clips, unreadable metadata, a missing label, …)."""
