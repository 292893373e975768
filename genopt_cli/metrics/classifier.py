"""The feature network of the image quality metrics: a small CNN classifier trained once per data
set on its training split and cached on disk.

Its penultimate layer gives the features whose statistics the Frechet distance compares, and
its softmax the class probabilities of the coverage metrics. A data set with fewer than two
classes has nothing to classify. The network then learns to predict by how many quarter turns
an image was rotated, a self-supervised task that still makes it learn the shapes in the data.
"""

import contextlib
import hashlib
import logging
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

# Version of the network and of its training below. Changing either must bump it, so that
# cached weights of the old version are not loaded for the new one.
CACHE_FORMAT = 1
FEATURE_DIM = 64
TRAIN_STEPS = 1000
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
SEED = 0
# Images per forward pass when features are extracted.
CHUNK = 1024


@contextlib.contextmanager
def one_thread():
    """Run torch on one CPU thread for the block.

    The network is so small that more threads gain little, but they cost a lot while other
    processes load the CPU. On a shared 2-core machine, 200 training steps on digits took 2.5 s
    on one thread and 35 s on two. One thread also makes the trained weights independent of the
    machine's core count.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class FeatureClassifier(nn.Module):
    """Three convolutions, average pooling to 4x4, a FEATURE_DIM feature layer and the class head.

    The adaptive pooling lets one network take any image size from 8x8 upwards. Images of 16
    pixels or more a side are downsampled by the first convolution too, which makes training on
    28x28 images about four times cheaper.
    """

    def __init__(self, channels: int, num_classes: int, image_size: int):
        super().__init__()
        stem_stride = 2 if image_size >= 16 else 1
        self.body = nn.Sequential(
            nn.Conv2d(channels, 16, 3, stride=stem_stride, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(32 * 16, FEATURE_DIM),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return class logits for images in [0, 1]."""
        return self.head(self.body(images * 2.0 - 1.0))

    @torch.no_grad()
    def features_and_probabilities(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the (N, FEATURE_DIM) features and (N, K) class probabilities of images."""
        features, probabilities = [], []
        with one_thread():
            for chunk in images.float().split(CHUNK):
                hidden = self.body(chunk * 2.0 - 1.0)
                features.append(hidden)
                probabilities.append(F.softmax(self.head(hidden), dim=1))
        return torch.cat(features), torch.cat(probabilities)


@dataclass
class TrainedClassifier:
    """A trained feature network and what it was trained to predict."""

    network: FeatureClassifier
    # True when the network predicts rotations because the data set has fewer than two classes.
    predicts_rotation: bool
    held_out_accuracy: float


def cache_dir() -> Path:
    """Return $GENOPT_CACHE_DIR, else $XDG_CACHE_HOME/genopt, else ~/.cache/genopt."""
    configured = os.environ.get("GENOPT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "genopt"


def data_checksum(images: torch.Tensor, labels: torch.Tensor | None) -> str:
    """Return a SHA-256 of the training images, their labels and CACHE_FORMAT."""
    digest = hashlib.sha256(f"format {CACHE_FORMAT} shape {tuple(images.shape)}".encode())
    digest.update(images.float().contiguous().numpy().tobytes())
    if labels is not None:
        digest.update(labels.long().contiguous().numpy().tobytes())
    return digest.hexdigest()


def rotate(images: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Rotate each square image by its number of quarter turns (0 to 3)."""
    rotated = images.clone()
    for k in range(1, 4):
        chosen = quarter_turns == k
        rotated[chosen] = torch.rot90(images[chosen], k, dims=(2, 3))
    return rotated


def _targets(images: torch.Tensor, labels: torch.Tensor | None, generator: torch.Generator):
    """Return (inputs, targets): the images with their labels, or rotated with the rotations."""
    if labels is not None:
        return images, labels
    quarter_turns = torch.randint(4, (len(images),), generator=generator)
    return rotate(images, quarter_turns), quarter_turns


def train_classifier(
    images: torch.Tensor, labels: torch.Tensor | None, num_classes: int
) -> FeatureClassifier:
    """Train on (images, labels), or on rotations when labels is None, on one CPU thread.

    The global random state is forked, so training leaves a run's random numbers as they were.
    Training is deterministic for a given torch version and CPU.
    """
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(SEED)
        generator = torch.Generator().manual_seed(SEED)
        network = FeatureClassifier(images.shape[1], num_classes, min(images.shape[2:]))
        optimizer = torch.optim.AdamW(network.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 1.0 - step / TRAIN_STEPS
        )
        for _ in range(TRAIN_STEPS):
            index = torch.randint(len(images), (BATCH_SIZE,), generator=generator)
            batch_labels = None if labels is None else labels[index]
            inputs, targets = _targets(images[index], batch_labels, generator)
            loss = F.cross_entropy(network(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return network.eval().requires_grad_(False)


def accuracy(
    network: FeatureClassifier, images: torch.Tensor, labels: torch.Tensor | None
) -> float:
    """Return the share of images classified correctly; without labels, of all four rotations."""
    if labels is None:
        turns = torch.arange(4).repeat_interleave(len(images))
        images, labels = rotate(images.repeat(4, 1, 1, 1), turns), turns
    _, probabilities = network.features_and_probabilities(images)
    return (probabilities.argmax(1) == labels).float().mean().item()


def _load_cached(path: Path, checksum: str, image_shape: tuple[int, ...], num_classes: int):
    """Return the cached TrainedClassifier at `path`, or None when it is missing or unusable."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["format"] != CACHE_FORMAT or state["checksum"] != checksum:
            raise ValueError("written for other data or another version of the network")
        network = FeatureClassifier(image_shape[0], num_classes, min(image_shape[1:]))
        network.load_state_dict(state["network"])
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, pickle.PickleError) as error:
        log.warning("cached feature classifier %s is unusable (%s); training it again", path, error)
        return None
    network.eval().requires_grad_(False)
    return TrainedClassifier(network, state["predicts_rotation"], state["held_out_accuracy"])


def _save_atomic(state: dict, path: Path) -> None:
    """Write `state` to `path`; a cache that cannot be written costs a retraining next time."""
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, temporary)
        os.replace(temporary, path)
    except OSError as error:
        log.warning(
            "could not cache the feature classifier in %s (%s); set GENOPT_CACHE_DIR to a "
            "writable folder to avoid training it again in each run",
            path,
            error,
        )


def load_or_train(
    train_images: torch.Tensor,
    train_labels: torch.Tensor | None,
    num_classes: int,
    held_out_images: torch.Tensor,
    held_out_labels: torch.Tensor | None,
) -> TrainedClassifier:
    """Return the classifier of this training split from the cache, training it on a miss.

    With fewer than two classes the labels are ignored and the network predicts rotations. The
    cache file is cache_dir()/classifiers/CHECKSUM.pt, written atomically so that parallel runs
    of a sweep can share it.
    """
    predicts_rotation = train_labels is None or num_classes < 2
    if predicts_rotation:
        train_labels, held_out_labels, num_classes = None, None, 4
    checksum = data_checksum(train_images, train_labels)
    path = cache_dir() / "classifiers" / f"{checksum[:32]}.pt"
    cached = _load_cached(path, checksum, tuple(train_images.shape[1:]), num_classes)
    if cached is not None:
        log.info("feature classifier loaded from %s", path)
        return cached

    started = time.perf_counter()
    network = train_classifier(train_images.float(), train_labels, num_classes)
    held_out_accuracy = accuracy(network, held_out_images.float(), held_out_labels)
    state = {
        "format": CACHE_FORMAT,
        "checksum": checksum,
        "predicts_rotation": predicts_rotation,
        "held_out_accuracy": held_out_accuracy,
        "network": network.state_dict(),
    }
    _save_atomic(state, path)
    task = "rotations" if predicts_rotation else f"{num_classes} classes"
    log.info(
        "feature classifier trained on %d images (%s) in %.1f s, held-out accuracy %.3f; "
        "cached in %s",
        len(train_images),
        task,
        time.perf_counter() - started,
        held_out_accuracy,
        path,
    )
    return TrainedClassifier(network, predicts_rotation, held_out_accuracy)
