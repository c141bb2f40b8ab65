"""``agf_combos`` (Kim et al. 2018): the sweep file's schema and checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from raymir.config.common import SearchConfig, SweepBase, check_corpus, check_data, check_search, check_training
from raymir.config.sections import KIM_MEL, AgfParams, KimTrainConfig, MelParams, TransferConfig

AGF_TASKS = "gsedm"  # genre + the four artist group factors, in the order of the paper's names ("gsedm")
ARCHS = ("STN", "MTN", "wSTN")


@dataclass(frozen=True)
class AgfSweepConfig(SweepBase):
    """``agf_combos`` (Kim et al. 2018): artist group factors, all task combinations as STN/MTN, wSTN, MLP transfer."""

    recipe: str = "agf_combos"
    mel: MelParams = KIM_MEL
    agf: AgfParams = field(default_factory=AgfParams)
    tasks: str = AGF_TASKS  # the tasks whose non-empty subsets are swept
    archs: tuple[str, ...] = ARCHS
    train: KimTrainConfig = field(default_factory=KimTrainConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    search: SearchConfig = field(default_factory=SearchConfig)


def task_combos(tasks: str = AGF_TASKS) -> tuple[str, ...]:
    """All non-empty subsets of ``tasks`` as strings in the given order ("g", …, "gmdes"), by size."""
    out = ["".join(t for i, t in enumerate(tasks) if mask >> i & 1) for mask in range(1, 2 ** len(tasks))]
    return tuple(sorted(out, key=lambda c: (len(c), [tasks.index(t) for t in c])))


def check(cfg: AgfSweepConfig) -> list[str]:
    from raymir.targets.descriptors import DESCRIPTORS, essentia_available

    p: list[str] = []
    c, tr, tf, a = cfg.corpus, cfg.train, cfg.transfer, cfg.agf
    if not cfg.tasks or any(t not in AGF_TASKS for t in cfg.tasks) or len(set(cfg.tasks)) != len(cfg.tasks):
        p.append(f"tasks: {cfg.tasks!r} must be distinct letters of {AGF_TASKS!r} (g genre, m MFCC, d ΔMFCC, "
                 "e descriptors, s subgenres)")
    for arch in cfg.archs:
        if arch not in ARCHS:
            p.append(f"archs: unknown architecture {arch!r} (available: {', '.join(ARCHS)})")
    if "wSTN" in cfg.archs and "g" not in cfg.tasks:
        p.append("archs: wSTN is a widened genre net and needs 'g' in tasks")
    p += check_corpus(c)
    if c.fma_artists_per_genre < 2 or c.fma_tracks_per_artist < 1:
        p.append("corpus: fma_artists_per_genre must be ≥ 2 and fma_tracks_per_artist ≥ 1")
    seconds = (cfg.data.duration or cfg.mel.duration) if cfg.data.dataset else c.duration
    p += check_data(cfg.data, source=False)
    if seconds * cfg.mel.sr / cfg.mel.hop_length < 43:
        p.append(f"corpus.duration / data.duration: tracks must be ≥ 1 s (43 frames) long, got {seconds}")
    if a.descriptors not in DESCRIPTORS:
        p.append(f"agf.descriptors: unknown descriptor set {a.descriptors!r} (available: {', '.join(DESCRIPTORS)})")
    elif a.descriptors == "essentia" and not essentia_available():
        p.append("agf.descriptors: essentia is not installed; pip install 'raymir[essentia]'")
    for k in ("n_words", "descriptor_words", "n_topics"):
        if getattr(a, k) < 2:
            p.append(f"agf.{k}: must be ≥ 2, got {getattr(a, k)}")
    p += check_training(tr, "train", counts=("epochs", "batch_size", "num_workers", "reports"))
    if tr.task_sampling not in ("batch", "epoch"):
        p.append(f"train.task_sampling: must be batch or epoch, got {tr.task_sampling!r}")
    if tf.lr <= 0:
        p.append(f"transfer.lr: must be > 0, got {tf.lr}")
    if not 0 < tf.val_fraction < 0.5:
        p.append(f"transfer.val_fraction: must be in (0, 0.5), got {tf.val_fraction}")
    if not 0 <= tf.dropout < 1:
        p.append(f"transfer.dropout: must be in [0, 1), got {tf.dropout}")
    for k in ("hidden", "epochs", "batch_size", "repeats"):
        if getattr(tf, k) < 1:
            p.append(f"transfer.{k}: must be ≥ 1, got {getattr(tf, k)}")
    return p + check_search(cfg.search, unused={
        "combos_per_trial": "a trial is one source net or task combination, not a grid of layer combinations",
        "gpus_per_trial": "the transfer-only trials run their MLP on CPU; the source nets take GPUs by train.use_gpu"})
