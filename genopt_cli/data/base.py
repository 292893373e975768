"""In-memory data sets and the batch streams that feed the training loop.

The embedded data sets fit in memory many times over, so batches are drawn by indexing one
tensor. torch's DataLoader would collate each example separately, which at these sizes costs
more than the model's step. Every batch is a pure function of (seed, step), so a run resumed at
step s reads exactly the batches the uninterrupted run would have read.

Under data parallelism a step's batch is the global one, world_size times a process's, and
`shard(rank, world_size)` makes a stream yield only examples rank, rank + world_size, ... of it.
So micro-batch k of all ranks together contains the examples of micro-batch k of a one-process run
with world_size times the batch. torch's DistributedSampler is not used: it pads or drops
examples at each epoch's end by a count that depends on the world size, so the examples a run
trains on would change with the number of processes, and the step alone would no longer fix the data
position.
"""

from dataclasses import dataclass, field

import torch

# The train/validation split is fixed, whatever the run's seed, so that every run and every
# metric uses the same held-out images.
SPLIT_SEED = 1234


def split_indices(count: int, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (train, validation) indices: a fixed shuffle, round(count x val_fraction) held out."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_val = int(round(count * val_fraction))
    return order[n_val:], order[:n_val]


@dataclass
class ImageDataset:
    """Images in [0, 1], shape (N, C, H, W), split into train and validation.

    Labels, where the data set has them, are int64 indices into `classes`.
    """

    name: str
    train: torch.Tensor
    val: torch.Tensor
    train_labels: torch.Tensor | None = None
    val_labels: torch.Tensor | None = None
    classes: list[str] | None = None
    kind: str = field(default="images", init=False)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])


@dataclass
class TextDataset:
    """A character corpus encoded as int64 token ids with its vocabulary."""

    name: str
    train: torch.Tensor
    val: torch.Tensor
    vocab: list[str]
    kind: str = field(default="text", init=False)

    def encode(self, text: str) -> torch.Tensor:
        index = {ch: i for i, ch in enumerate(self.vocab)}
        return torch.tensor([index[ch] for ch in text if ch in index], dtype=torch.long)

    def decode(self, ids: torch.Tensor) -> str:
        return "".join(self.vocab[i] for i in ids.tolist())


@dataclass
class PointDataset:
    """Points in the plane, shape (N, 2), drawn from an equal-weight mixture of isotropic
    Gaussians whose means (`centers`, shape (K, 2)) and standard deviation `std` are known."""

    name: str
    train: torch.Tensor
    val: torch.Tensor
    centers: torch.Tensor
    std: float
    # Generator samples drawn at each evaluation to count the covered modes.
    eval_samples: int
    kind: str = field(default="points", init=False)


Dataset = ImageDataset | TextDataset | PointDataset


class ShardedStream:
    """A batch stream that can serve one rank's shard of every step (see the module's notes)."""

    rank: int = 0
    world_size: int = 1

    def shard(self, rank: int, world_size: int) -> None:
        self.rank, self.world_size = rank, world_size

    def _mine(self, rows: torch.Tensor) -> torch.Tensor:
        return rows if self.world_size == 1 else rows[self.rank :: self.world_size]


class ImageBatches(ShardedStream):
    """Yields the examples of step `step` from an endless sequence of shuffled epochs.

    It indexes the first axis only, so it serves points (N, 2) as well as images.

    Epoch e is the permutation drawn from a generator seeded with (seed, e). Step s takes the
    `step_size` examples at positions [s x step_size, (s + 1) x step_size) of that sequence, so
    a step may span the end of one epoch and the start of the next.
    """

    def __init__(self, images: torch.Tensor, step_size: int, seed: int):
        self.images = images
        self.step_size = step_size
        self.seed = seed
        self._permutations: dict[int, torch.Tensor] = {}

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._permutations:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            permutation = torch.randperm(len(self.images), generator=generator)
            # A step spans at most two epochs, so two cached permutations suffice.
            self._permutations = {e: p for e, p in self._permutations.items() if e == epoch - 1}
            self._permutations[epoch] = permutation
        return self._permutations[epoch]

    def indices(self, step: int) -> torch.Tensor:
        n = len(self.images)
        start = step * self.step_size
        parts = []
        remaining = self.step_size
        while remaining > 0:
            epoch, offset = divmod(start, n)
            take = min(remaining, n - offset)
            parts.append(self._permutation(epoch)[offset : offset + take])
            start += take
            remaining -= take
        return torch.cat(parts)

    def batch(self, step: int) -> torch.Tensor:
        return self.images[self._mine(self.indices(step))]


class TokenWindows(ShardedStream):
    """Yields `step_size` random windows of `length` tokens for step `step`.

    The window starts come from a generator seeded with (seed, step).
    """

    def __init__(self, tokens: torch.Tensor, step_size: int, length: int, seed: int):
        self.tokens = tokens
        self.step_size = step_size
        self.length = length
        self.seed = seed
        self._offsets = torch.arange(length)

    def batch(self, step: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        high = len(self.tokens) - self.length
        starts = torch.randint(0, high + 1, (self.step_size,), generator=generator)
        starts = self._mine(starts)
        return self.tokens[starts[:, None] + self._offsets]
