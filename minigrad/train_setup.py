"""Building a training run's pieces from its configuration: the datasets, the model (the
small-input variant of an ImageNet model for small images) and the input size it takes.

Used by ``minigrad.train.fit``; no CLI here.
"""

from __future__ import annotations

from dataclasses import replace

from .data.pipeline import load_datasets
from .tensor import manual_seed
from .train_config import TrainConfig, resolve_dataset

__all__ = ["load_data", "build_model", "model_input_size"]


def load_data(config: TrainConfig, note):
    """``(config with its dataset resolved, train_ds, test_ds)``; an empty split is an error."""
    config = replace(config, dataset=resolve_dataset(config.dataset, config.model, config.data_dir, note))
    train_ds, test_ds = load_datasets(config.data_spec(), note=note)
    for ds, split in ((train_ds, config.train_split), (test_ds, config.test_split)):
        if len(ds) == 0:
            raise ValueError(f"train: the {split!r} split of {config.dataset} has no examples")
    return config, train_ds, test_ds


def build_model(config: TrainConfig, train_ds, module, note):
    """``(config with the model_kwargs used, model)``: ``module`` itself, or the registry's model
    for the data's classes and channels, initialised after ``manual_seed(config.seed)``."""
    from .models import get_model

    if module is None:
        config = replace(config, model_kwargs=_model_kwargs(config, train_ds, note))
    manual_seed(config.seed)
    if module is not None:
        return config, module
    try:
        return config, get_model(config.model, num_classes=train_ds.num_classes,
                                 in_channels=int(train_ds.input_size[0]), **config.model_kwargs)
    except TypeError as e:
        raise ValueError(f"train: model_kwargs {config.model_kwargs} do not fit {config.model} ({e})") from None


def _model_kwargs(config: TrainConfig, train_ds, note) -> dict:
    """``config.model_kwargs``, plus ``small_input=True`` for an ImageNet model on images of <= 64 px."""
    import inspect

    from .models import model_info

    kwargs = dict(config.model_kwargs)
    accepted = inspect.signature(model_info(config.model)["fn"]).parameters
    if "small_input" in accepted and "small_input" not in kwargs and max(train_ds.input_size[1:]) <= 64:
        kwargs["small_input"] = True
        note(f"{config.model}: {'x'.join(map(str, train_ds.input_size[1:]))} images, using the small-input variant "
             f"(pass --full-size for the ImageNet layout)")
    return kwargs


def model_input_size(model, name, dataset):
    """The (C, H, W) the model takes: its own ``input_size``, the registry's, or (unregistered) the data's."""
    from .models import list_models, model_info

    if getattr(model, "input_size", None):
        return tuple(model.input_size)
    return tuple(model_info(name)["input_size"] if name in list_models() else dataset.input_size)
