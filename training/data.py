"""Datasets and transforms: images listed in an LST file, read from a channel folder.

As the built-in algorithm reads them: each LST line's path is relative to the image channel's root.
"""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms

from training.errors import UserError
from training.lst import LstEntry, LstError, read_lst

AUGMENTATIONS = ("crop", "crop_color", "crop_color_transform")


class ImageDataError(UserError, ValueError):
    """An image channel or an image in it is missing or unreadable."""


class LstDataset(Dataset):
    """(image tensor, class id) for each LST entry, the image read from `root / entry.path`."""

    def __init__(self, root: str | Path, entries: list[LstEntry], transform):
        self.root = Path(root)
        self.entries = entries
        self.transform = transform

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int):
        entry = self.entries[index]
        return self.transform(load_image(self.root / entry.path)), entry.class_id

    @property
    def targets(self) -> list[int]:
        return [e.class_id for e in self.entries]


def load_image(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise ImageDataError(f"{path}: listed in the LST file but not in the image channel") from None
    except OSError as exc:
        raise ImageDataError(f"{path}: not a readable image ({exc})") from None


def find_lst(channel: str | Path) -> Path:
    """The one `.lst` file in an LST channel folder (or the file itself)."""
    channel = Path(channel)
    if channel.is_file():
        return channel
    found = sorted(channel.glob("*.lst"))
    if len(found) != 1:
        what = "no .lst file" if not found else f"{len(found)} .lst files"
        raise LstError(f"{channel}: {what}; an LST channel holds exactly one")
    return found[0]


def read_channel_lst(channel: str | Path) -> list[LstEntry]:
    entries = read_lst(find_lst(channel))
    if not entries:
        raise LstError(f"{find_lst(channel)}: no images listed")
    return entries


def train_transform(augmentation_type: str, *, resize: int, crop: tuple[int, int], mean, std):
    """The built-in algorithm's augmentation types.

    crop: random crop of `crop` from the image resized to `resize` + horizontal flip;
    crop_color: + colour jitter (brightness, contrast, saturation, hue);
    crop_color_transform: + rotation, shear and aspect-ratio change.
    """
    if augmentation_type not in AUGMENTATIONS:
        raise UserError(f"augmentation_type: {augmentation_type!r}; allowed: "
                        f"{', '.join(AUGMENTATIONS)}")
    steps: list = []
    if augmentation_type == "crop_color_transform":
        steps += [transforms.RandomAffine(degrees=10, shear=10),
                  transforms.RandomResizedCrop(crop, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3))]
    else:
        steps += [transforms.Resize(resize), transforms.RandomCrop(crop, pad_if_needed=True)]
    steps.append(transforms.RandomHorizontalFlip())
    if augmentation_type in ("crop_color", "crop_color_transform"):
        steps.append(transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4,
                                            hue=0.1))
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)


def class_weights(targets: list[int], num_classes: int) -> torch.Tensor:
    """Inverse class frequency, scaled so a balanced set gets weight 1 everywhere."""
    counts = torch.bincount(torch.tensor(targets), minlength=num_classes).float()
    weights = len(targets) / (num_classes * counts.clamp(min=1))
    return weights
