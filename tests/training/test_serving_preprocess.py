"""The serving path's preprocessing: one resize, one float32 array, JPEG draft decoding; and that it
matches the training eval transform closely enough to give the same answers on real photos."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from training import inference
from training.preprocess import ServingTransform, decode_size, eval_transform

SETTINGS = {"resize": 146, "crop": (128, 128), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}


def test_serving_transform_matches_the_eval_transform(photos):
    serving, reference = ServingTransform(**SETTINGS), eval_transform(**SETTINGS)
    for _, jpeg in photos.values():
        image = Image.open(io.BytesIO(jpeg)).convert("RGB")
        ours, theirs = serving(image), reference(image).numpy()
        assert ours.shape == theirs.shape == (3, 128, 128) and ours.dtype == np.float32
        difference = np.abs(ours - theirs)  # values span 2 (mean = std = 0.5): one grey level is 0.0078
        assert difference.mean() < 1e-3 and difference.max() < 0.02


def test_serving_transform_writes_one_float_array_in_place():
    out = np.zeros((3, 128, 128), dtype=np.float32)
    image = Image.new("RGB", (300, 200), (255, 0, 128))
    result = ServingTransform(**SETTINGS)(image, out)
    assert result is out
    assert np.allclose(out[:, 64, 64], [1.0, -1.0, 128 / 127.5 - 1], atol=1e-6)


@pytest.mark.parametrize("size", [(500, 375), (375, 500), (146, 146), (2000, 150)])
def test_the_crop_box_lies_inside_the_image(size):
    left, top, right, bottom = ServingTransform(**SETTINGS).box(size)
    assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]
    # a square crop stays square, but for torchvision's rounding of the resized long side
    assert abs((right - left) / (bottom - top) - 1) < 0.01


def test_a_large_jpeg_decodes_at_reduced_scale_but_never_below_the_resize():
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 1200), (10, 200, 30)).save(buffer, "JPEG")
    image = inference.decode_image(buffer.getvalue(), short_side=146)
    assert image.size == (200, 150)  # libjpeg's 1/8 scale: short side 150 >= 146
    assert min(decode_size((1600, 1200), 146)) >= 146
    assert inference.decode_image(buffer.getvalue()).size == (1600, 1200)  # no model: full size


def large_jpeg(jpeg: bytes, factor: int = 4) -> bytes:
    """A real photo as a camera would send it: `factor` times larger (dogs-10 is stored at 256 px)."""
    image = Image.open(io.BytesIO(jpeg))
    buffer = io.BytesIO()
    image.resize((image.width * factor, image.height * factor), Image.Resampling.BICUBIC).save(
        buffer, "JPEG", quality=92)
    return buffer.getvalue()


def test_draft_decoding_gives_the_same_answers_on_real_photos(loaded_tiny, photos):
    """Large JPEGs decode at a quarter of their size for the tiny model (146 px): same answers."""
    handlers, model = loaded_tiny.handlers, loaded_tiny.model
    for _, jpeg in photos.values():
        body = large_jpeg(jpeg)
        drafted = handlers.decode_request(body, "image/jpeg")  # model_fn set the size JPEGs may shrink to
        full = handlers.decode_image(body)
        assert drafted.size[0] * 4 == full.size[0] and min(drafted.size) >= 146
        fast = handlers.forward(handlers.preprocess(drafted, model)[None], model)[0]
        slow = handlers.forward(handlers.preprocess(full, model)[None], model)[0]
        assert fast.argmax() == slow.argmax()
        assert np.abs(fast - slow).max() < 0.05
