"""The model registry: ``@register_model`` names a constructor; ``get_model`` builds one by name."""

from __future__ import annotations

import inspect

__all__ = ["register_model", "get_model", "list_models", "model_info"]

_MODELS: dict[str, dict] = {}


def register_model(name: str, *, task: str = "classification", input_size=(1, 28, 28), description: str = ""):
    """Decorator registering a model constructor under ``name``.

    Args:
        name: the name used by ``get_model`` and the CLI.
        task: "classification" or "segmentation".
        input_size: the default (C, H, W) the model is trained on.
        description: one line for ``minigrad models``.
    """

    def decorate(fn):
        if name in _MODELS:
            raise ValueError(f"register_model: a model named {name!r} is already registered")
        doc = (fn.__doc__ or "").strip().splitlines()
        _MODELS[name] = {
            "name": name,
            "fn": fn,
            "task": task,
            "input_size": tuple(input_size),
            "description": description or (doc[0] if doc else ""),
        }
        return fn

    return decorate


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_MODELS)


def model_info(name: str) -> dict:
    """The registry entry of ``name`` (constructor, task, default input size, description)."""
    if name not in _MODELS:
        raise ValueError(f"get_model: unknown model {name!r}; valid names: {', '.join(list_models())}")
    return _MODELS[name]


def get_model(name: str, **kwargs):
    """Build the model registered as ``name`` with keyword arguments such as ``num_classes``, ``in_channels``.

    Raises:
        ValueError: for an unknown name (listing the valid ones) or an argument the constructor does not take.
    """
    fn = model_info(name)["fn"]
    accepted = inspect.signature(fn).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ValueError(f"get_model({name!r}): unknown argument(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    model = fn(**kwargs)
    model.registry_name = name  # so that minigrad.save knows how to rebuild it
    return model
