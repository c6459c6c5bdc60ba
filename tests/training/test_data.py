"""Augmentation types, class weights, LST channels and class maps."""
from __future__ import annotations

import pytest
import torch

from training import data, export
from training.classmap import ClassMapError, to_json, from_folders
from training.lst import LstEntry, LstError, write_lst
from training.preprocess import eval_transform

IMAGES = dict(resize=72, crop=(64, 64), mean=(0.5,) * 3, std=(0.5,) * 3)


@pytest.fixture(scope="module")
def photo(dogs10):
    return data.load_image(next(iter(sorted((dogs10 / "n02088364-beagle").glob("*.jpg")))))


def augmented(photo, kind, seed):
    torch.manual_seed(seed)
    return data.train_transform(kind, **IMAGES)(photo)


@pytest.mark.parametrize("kind", data.AUGMENTATIONS)
def test_augmentation_is_random_and_shaped(photo, kind):
    a, b = augmented(photo, kind, 1), augmented(photo, kind, 2)

    assert a.shape == b.shape == (3, 64, 64)
    assert not torch.equal(a, b)
    assert torch.equal(a, augmented(photo, kind, 1))  # reproducible from the seed


def test_augmentation_types_differ(photo):
    results = [augmented(photo, kind, 7) for kind in data.AUGMENTATIONS]

    assert not torch.equal(results[0], results[1])
    assert not torch.equal(results[1], results[2])


def test_colour_jitter_only_with_crop_color(photo):
    # crop: pixel values are a crop of the resized image, so per-pixel colour stays in its range;
    # crop_color changes the colour statistics of the same crop
    torch.manual_seed(3)
    plain = data.train_transform("crop", **IMAGES)
    torch.manual_seed(3)
    crop = plain(photo)
    torch.manual_seed(3)
    colour = data.train_transform("crop_color", **IMAGES)(photo)

    assert not torch.allclose(crop.mean(dim=(1, 2)), colour.mean(dim=(1, 2)), atol=1e-3)


def test_unknown_augmentation_is_an_error():
    with pytest.raises(data.UserError, match="augmentation_type"):
        data.train_transform("rotate", **IMAGES)


def test_eval_transform_is_deterministic(photo):
    transform = eval_transform(**IMAGES)

    assert torch.equal(transform(photo), transform(photo))


def test_class_weights_are_inverse_frequency():
    weights = data.class_weights([0, 0, 0, 1], 2)

    assert weights.tolist() == pytest.approx([4 / 6, 2.0])


def test_lst_dataset_reads_images_relative_to_the_channel(dogs10):
    photo = sorted((dogs10 / "n02088364-beagle").glob("*.jpg"))[0]
    entries = [LstEntry(0, 2, f"n02088364-beagle/{photo.name}")]

    image, label = data.LstDataset(dogs10, entries, eval_transform(**IMAGES))[0]

    assert image.shape == (3, 64, 64) and label == 2


def test_missing_image_is_a_clear_error(tmp_path):
    dataset = data.LstDataset(tmp_path, [LstEntry(0, 0, "a/missing.jpg")], eval_transform(**IMAGES))

    with pytest.raises(data.ImageDataError, match="not in the image channel"):
        dataset[0]


def test_an_lst_channel_holds_exactly_one_lst(tmp_path):
    with pytest.raises(LstError, match="no .lst file"):
        data.find_lst(tmp_path)
    write_lst(tmp_path / "a.lst", [LstEntry(0, 0, "x/y.jpg")])
    write_lst(tmp_path / "b.lst", [LstEntry(0, 0, "x/y.jpg")])
    with pytest.raises(LstError, match="2 .lst files"):
        data.find_lst(tmp_path)


def test_class_map_is_built_from_the_lst_without_classes_json(tmp_path):
    entries = [LstEntry(0, 1, "n2-beagle/a.jpg"), LstEntry(1, 0, "n1-golden_retriever/b.jpg")]

    classes = export.class_map(tmp_path, entries)

    assert [(c.id, c.folder, c.name) for c in classes] == [
        (0, "n1-golden_retriever", "golden retriever"), (1, "n2-beagle", "beagle")]


def test_class_map_comes_from_classes_json_when_there(tmp_path):
    (tmp_path / "classes.json").write_text(to_json(from_folders(["n1-a", "n2-b", "n3-c"])))

    classes = export.class_map(tmp_path, [LstEntry(0, 2, "n3-c/x.jpg")])

    assert len(classes) == 3


def test_class_map_conflicts_are_errors(tmp_path):
    with pytest.raises(ClassMapError, match="used for both"):
        export.class_map(tmp_path, [LstEntry(0, 0, "a/x.jpg"), LstEntry(1, 0, "b/y.jpg")])
    with pytest.raises(ClassMapError, match="not 0.."):
        export.class_map(tmp_path, [LstEntry(0, 1, "a/x.jpg")])
