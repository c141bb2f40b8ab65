"""The studies raymir runs, one module each: name → its sweep file's schema, the module whose ``run``
executes it, and a one-line description.

A recipe module defines ``run(cfg, opts)`` (→ {"rows", "errors", "tracker", "report_dir", …}) and
``summary(cfg)`` (what the sweep will run, in one line, for ``--check``). Modules are imported when
a sweep runs, so listing or validating sweeps does not start torch, Ray or MLflow.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from raymir.config import SCHEMAS


@dataclass(frozen=True)
class Recipe:
    config: type  # the sweep file's schema (``raymir.config``)
    module: str  # the module with ``run`` and ``summary``
    description: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


RECIPES: dict[str, Recipe] = {
    "layer_combos": Recipe(SCHEMAS["layer_combos"][0], "raymir.recipes.layer_combos",
                           "Choi et al. 2017: a tagging convnet's every layer combination, probed by SVM/SVR grids"),
    "agf_combos": Recipe(SCHEMAS["agf_combos"][0], "raymir.recipes.agf_combos",
                         "Kim et al. 2018: artist group factors, all task combinations as STN / MTN / wSTN"),
    "artist_labels": Recipe(SCHEMAS["artist_labels"][0], "raymir.recipes.artist_labels",
                            "Park et al. 2017: basic and Siamese artist-label models against the number of artists"),
    "artist_tags": Recipe(SCHEMAS["artist_tags"][0], "raymir.recipes.artist_tags",
                          "Wang et al. 2019: an artist-tag convnet against the tag-trained one and MFCCs"),
}
