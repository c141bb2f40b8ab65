"""Every section schema a sweep file can hold: plain frozen dataclasses, no torch / ray / mlflow.

The training, extraction and probe code takes these objects whole (``PretrainConfig``,
``KimTrainConfig``, ``ProbeConfig``, …), so a setting has one name from the YAML file down to
the loop that uses it. Field names and defaults are part of every cache key: renaming a field
changes the key of every artifact that hashes its section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- audio front ends -----------------------------------------------------------------------


@dataclass(frozen=True)
class MelParams:
    """Mel front-end parameters (defaults: Choi et al. 2017's released code)."""

    sr: int = 12000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    fmin: float = 0.0
    fmax: float = 6000.0
    duration: float = 29.0  # seconds fed to the model; shorter clips are repeated
    top_db: float = 80.0

    @property
    def n_samples(self) -> int:
        return int(round(self.sr * self.duration))

    @property
    def n_frames(self) -> int:
        return 1 + self.n_samples // self.hop_length


# Kim et al. 2018: 128-bin log-mel at 22.05 kHz; tracks of 30 s cut into 1-s crops.
KIM_MEL = MelParams(sr=22050, n_fft=1024, hop_length=512, n_mels=128, fmin=0.0, fmax=11025.0, duration=30.0)
# Park et al. 2017: 128 mel bins of the magnitude STFT at 22.05 kHz; 3-s crops.
PARK_MEL = MelParams(sr=22050, n_fft=1024, hop_length=512, n_mels=128, fmin=0.0, fmax=11025.0, duration=3.0)


# --- the synthetic corpus -------------------------------------------------------------------

# The target tasks of the synthetic corpus (``raymir.data.synthetic.TARGET_TASKS`` defines them).
SYNTHETIC_TASKS = ("ballroom", "genre", "speech_music", "emotion_arousal", "emotion_valence", "vocal", "sound_events")


@dataclass(frozen=True)
class SyntheticParams:
    """Size and difficulty of the synthetic corpus."""

    seed: int = 0
    duration: float = 6.0  # seconds per clip (repeated to the model's input length)
    overlap: float = 0.5  # 0 = genres fully separable by every trait; 1 = traits shared widely
    label_noise: float = 0.05  # probability a genre/dance label is wrong; tag drop/insert rate
    n_tags: int = 50
    source_artists_per_genre: int = 8
    source_tracks_per_artist: int = 6
    target_artists_per_genre: int = 5
    target_tracks_per_artist: int = 4
    clips_per_class: int = 20  # ballroom, speech/music and sound-event classes
    event_folds: int = 10  # predefined folds of the sound-event subset (by recording)
    fma_artists_per_genre: int = 7  # FMA-like subset: 16 genres × artists × tracks
    fma_tracks_per_artist: int = 5


# --- training -------------------------------------------------------------------------------

PRECISIONS = ("auto", "bf16", "fp32")


@dataclass(frozen=True)
class PretrainConfig:
    """Tagging pretraining of the Choi convnet (Ray Train)."""

    model: str = "choi2017"
    epochs: int = 16
    batch_size: int = 8  # per worker
    lr: float = 3e-3
    num_workers: int = 2  # Ray Train workers (DDP ranks)
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    val_fraction: float = 0.15
    precision: str = "auto"  # auto: bf16 autocast where the CPU/GPU has native bf16; or bf16 | fp32
    channels_last: bool = True
    loader_workers: int = 0  # DataLoader processes per Train worker (0: load in the training process)
    compile: bool = False  # torch.compile the model (pays a compile time once per run)
    seed: int = 0


@dataclass(frozen=True)
class KimTrainConfig:
    """Source-net training of Kim et al. 2018 (paper: Adam 1e-3, batch 64, 200 epochs per task)."""

    epochs: int = 200  # per task; a net with N tasks trains N × epochs
    batch_size: int = 64  # per worker
    lr: float = 1e-3
    task_sampling: str = "batch"  # batch (2019 code) | epoch (2018 code)
    num_workers: int = 1  # Ray Train workers (DDP ranks) per job
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    precision: str = "auto"  # auto: bf16 autocast where the hardware has native bf16 | bf16 | fp32
    channels_last: bool = True
    compile: bool = False  # torch.compile each stem and branch (pays a compile time once per job)
    loader_workers: int = 0  # DataLoader processes per Train worker cutting crops (0: in the training process)
    reports: int = 4  # metric reports (and checkpoints) per job
    seed: int = 0


ARTIST_MODELS = ("basic", "siamese")  # Park et al. 2017: softmax over artists | Siamese with triplets


@dataclass(frozen=True)
class ParkTrainConfig:
    """Artist-label training of Park et al. 2017 (Adam; the paper trains on random 3-s crops)."""

    epochs: int = 20
    batch_size: int = 32  # anchors per worker and step
    lr: float = 1e-3
    margin: float = 0.4  # Siamese hinge margin
    n_negatives: int = 4
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    precision: str = "auto"
    compile: bool = False  # torch.compile the model (pays a compile time once per job)
    loader_workers: int = 0  # DataLoader processes per Train worker cutting crops (0: in the training process)
    reports: int = 4
    seed: int = 0


@dataclass(frozen=True)
class TransferConfig:
    """The MLP trained on source-net features (paper: 1024 hidden, dropout 0.5, 50 epochs)."""

    hidden: int = 1024
    dropout: float = 0.5
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    val_fraction: float = 0.15  # of tracks (stratified) and, separately, of artists
    seed: int = 0
    # the whole experiment repeated with the split re-drawn (seed + r) and every net retrained (train.seed + r): a
    # new split needs new source nets, since held-out tracks must stay unseen by them
    repeats: int = 1


@dataclass(frozen=True)
class AgfParams:
    """Artist group factors: dictionary and topic sizes (paper: 2048 words, 40 topics) and the frame analysis."""

    n_words: int = 2048  # MFCC and ΔMFCC dictionaries
    descriptor_words: int = 2048  # song-descriptor dictionary
    n_topics: int = 40
    descriptors: str = "librosa"  # librosa | essentia
    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 1024
    max_fit_frames: int = 100_000  # frames sampled to fit the k-means dictionaries
    seed: int = 0


# --- encoders -------------------------------------------------------------------------------

ENCODER_KINDS = ("", "choi2017_keras", "park2017_keras", "torch", "hear", "embeddings")
POOLINGS = ("mean", "max", "mean+std")


@dataclass(frozen=True)
class EncoderConfig:
    """A given encoder whose features are probed instead of a net raymir pretrains (``--encoder KIND:PATH``).

    ``kind`` "" (the default): raymir trains its own nets. ``choi2017_keras`` / ``park2017_keras``: the papers'
    released Keras files, ``path`` the .hdf5 / .h5 (``raymir.models.keras_release``). ``torch``: ``path`` is
    ``module.path:factory`` or ``file.py:factory``, a function returning an ``nn.Module`` with ``sample_rate``
    and ``layer_outputs(y)`` (``raymir.encoders.torch_module``). ``hear``: ``path`` names a module in the HEAR
    API (``raymir.encoders.hear``). ``embeddings``: ``path`` a folder of precomputed per-layer features and
    their manifest (``raymir.data.embeddings``); only the probes run.
    """

    kind: str = ""
    path: str = ""
    weights: str = ""  # torch: a state_dict file (read with weights_only); hear: load_model's model_file_path
    pooling: str = "mean"  # torch / hear: how [batch, channels, time] outputs are pooled over time
    window_seconds: float = 0.0  # torch / hear: embed clips in windows of this length, then average (0: whole clip)
    # artist sweeps: the layer combination forming the track feature ("": the paper's own choice: every layer,
    # "12345", for the Choi 2017 tagger, as Choi et al.; the last layer for the rest; Park 2017 takes only "")
    layers: str = ""


# --- probes ---------------------------------------------------------------------------------

GAMMA_POWER = re.compile(r"^2\^(-?\d+)$")


def gamma_value(g: float | str, n_features: int) -> float:
    """Resolve a grid γ: a number, "2^k", or "1/n_features"."""
    if isinstance(g, str):
        if g == "1/n_features":
            return 1.0 / n_features
        return 2.0 ** int(GAMMA_POWER.match(g).group(1))
    return float(g)
