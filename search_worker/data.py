"""ImageNet-layout data for a search: ``train/`` is split into a weight half and an
architecture half (DARTS, Liu et al., ICLR 2019; ProxylessNAS, Cai et al., ICLR 2019), less a
tenth held out to score candidates (``score``: neither step optimises on it), and ``val/``
gives the final accuracy. Images are resized to the proxy resolution.

Batches come from :class:`BatchStream`, whose order is a function of (seed, epoch), so a
resumed search continues with exactly the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Subset
from torchvision import datasets, transforms

from search_worker.devices import module_device

# ImageNet channel statistics, as torchvision's reference training scripts use.
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SCORE_FRACTION = 0.1  # of train/, held out to score candidates


class DatasetError(ValueError):
    """The dataset root is missing or not in ImageFolder layout."""


def image_folder(root: Path, resolution: int) -> datasets.ImageFolder:
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    transform = transforms.Compose(
        [
            transforms.Resize(resolution),
            transforms.CenterCrop(resolution),
            transforms.ToTensor(),
            transforms.Normalize(_MEAN, _STD),
        ]
    )
    try:
        return datasets.ImageFolder(str(root), transform=transform)
    except (FileNotFoundError, RuntimeError) as err:
        raise DatasetError(f"{root}: {err}") from err


class BatchStream:
    """Endless batches of ``indices`` of a dataset, reshuffled every epoch, random flips;
    with ``threads`` the images of a batch are decoded in parallel (same batches)."""

    def __init__(
        self,
        dataset: datasets.ImageFolder,
        indices: Sequence[int],
        batch_size: int,
        seed: int,
        augment: bool = True,
        threads: int = 0,
    ) -> None:
        if not indices:
            raise DatasetError("a split of the dataset is empty")
        self.dataset = dataset
        self.indices = torch.as_tensor(list(indices))
        self.batch_size = min(batch_size, len(self.indices))
        self.seed = seed
        self.augment = augment
        self.pool = ThreadPoolExecutor(threads) if threads else None
        self.epoch = 0
        self.position = 0

    def _order(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return self.indices[torch.randperm(len(self.indices), generator=generator)]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.position + self.batch_size > len(self.indices):
            self.epoch, self.position = self.epoch + 1, 0
        chosen = self._order()[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        load = self.dataset.__getitem__
        items = self.pool.map(load, chosen.tolist()) if self.pool else map(load, chosen.tolist())
        images, labels = zip(*items, strict=True)
        x = torch.stack(images)
        if self.augment:
            generator = torch.Generator().manual_seed(
                self.seed * 7919 + self.epoch * 104_729 + self.position
            )
            flip = torch.rand(len(x), generator=generator) < 0.5
            x[flip] = x[flip].flip(-1)
        return x, torch.as_tensor(labels)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


@dataclass
class SearchData:
    weight: BatchStream
    arch: BatchStream
    score: BatchStream  # held out: ranks candidates
    train: BatchStream  # all of train/: training the derived network
    val: datasets.ImageFolder
    num_classes: int

    def streams(self) -> dict[str, BatchStream]:
        return {"weight": self.weight, "arch": self.arch, "score": self.score, "train": self.train}


def load_search_data(
    root: Path,
    resolution: int,
    arch_fraction: float,
    batch_size: int,
    seed: int,
    threads: int = 0,
) -> SearchData:
    """Seeded split of ``root/train`` into score, architecture and weight parts (the
    architecture part ``arch_fraction`` of what the score part leaves); ``root/val``;
    ``threads`` decode each batch's images (:class:`BatchStream`)."""
    train = image_folder(root / "train", resolution)
    val = image_folder(root / "val", resolution)
    if train.classes != val.classes:
        raise DatasetError(f"{root}: train/ and val/ have different classes")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
    n_score = max(1, round(SCORE_FRACTION * len(order)))
    n_arch = max(1, round(arch_fraction * (len(order) - n_score)))
    score, arch, weight = (
        order[:n_score],
        order[n_score : n_score + n_arch],
        order[n_score + n_arch :],
    )
    return SearchData(
        weight=BatchStream(train, weight, batch_size, seed, threads=threads),
        arch=BatchStream(train, arch, batch_size, seed + 1, threads=threads),
        score=BatchStream(train, score, batch_size, seed + 3, augment=False, threads=threads),
        train=BatchStream(train, order, batch_size, seed + 2, threads=threads),
        val=val,
        num_classes=len(train.classes),
    )


def accuracy(
    model: torch.nn.Module,
    dataset: datasets.ImageFolder | Subset[Any],
    batch_size: int = 100,
) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on a whole dataset or a subset of one."""
    model.eval()
    device = module_device(model)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            x = torch.stack([image for image, _ in items])
            y = torch.as_tensor([label for _, label in items])
            correct += int((model(x.to(device)).argmax(dim=1).cpu() == y).sum())
    return correct / len(dataset)
