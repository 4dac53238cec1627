"""DeepDream (Mordvintsev, Olah & Tyka, 2015): change the image so a layer responds more.

Gradient ascent on the pixels of the objective "mean activation" (or "mean squared
activation", the L2 norm) of one layer, with the three tricks that make the result look like
anything:

- normalized steps: ``x += lr * g / mean(|g|)``, so ``lr`` is the mean pixel change per step
  whatever the gradient's scale;
- jitter: the image is rolled by a random offset before each step and rolled back after, so
  the network's fixed grid does not imprint itself;
- octaves: the ascent runs first on a small version of the image and works its way up by a
  factor ``octave_scale``, carrying the details found so far; large structures appear at the
  small scales, fine texture at the large ones.

The network always sees the input at its own size: a small octave is enlarged with
``F.interpolate`` (bilinear) inside the graph, so its gradient reaches the small image and
models with a fixed input size (LeNet's 28 x 28) can dream at several scales too.
"""

from __future__ import annotations

import numpy as np

from ..functional import interpolate
from ..autograd import no_grad
from ..tensor import Tensor
from .layers import forward_collect, frozen, get_layer
from .figure import Panel, compose, prediction_text
from .render import chw_to_hwc, normalize, save_png

__all__ = ["dream_objective", "deep_dream", "save_dream"]

_OBJECTIVES = ("mean", "norm")


def _resize(t: Tensor, size) -> Tensor:
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return interpolate(t, size=tuple(int(s) for s in size), mode="bilinear", align_corners=False)


def dream_objective(model, image: np.ndarray, layer: str, objective: str = "mean", size=None,
                    grad: bool = True) -> tuple[float, np.ndarray | None]:
    """The objective at ``layer`` for one image and its gradient with respect to the image.

    Args:
        model: a ``Module`` in eval mode.
        image: ``(C, h, w)``; enlarged to ``size`` (the model's input size) when different.
        layer: layer name.
        objective: "mean" (mean activation) or "norm" (mean squared activation).
        size: ``(H, W)`` the model sees (default: the image's own size).
        grad: also compute the gradient.

    Returns:
        ``(value, gradient (C, h, w) or None)``.
    """
    if objective not in _OBJECTIVES:
        raise ValueError(f"dream: unknown objective {objective!r}; use 'mean' or 'norm'")
    module = get_layer(model, layer, op="dream")
    size = image.shape[-2:] if size is None else size
    inp = Tensor(np.asarray(image, dtype=np.float32)[None].copy(), requires_grad=grad)
    with frozen(model):
        if grad:
            act = forward_collect(model, _resize(inp, size), {layer: module})[layer]
        else:
            with no_grad():
                act = forward_collect(model, _resize(inp, size), {layer: module})[layer]
        value = act.mean() if objective == "mean" else (act * act).mean()
    if not grad:
        return float(value.item()), None
    value.backward()
    return float(value.item()), np.array(inp.grad.numpy()[0], dtype=np.float64)


def deep_dream(model, x: np.ndarray, layer: str, steps: int = 20, lr: float = 0.02, octaves: int = 3,
               octave_scale: float = 1.4, jitter: int = 2, objective: str = "mean", clip=None,
               seed: int = 0, callback=None) -> dict:
    """Amplify what ``layer`` sees in ``x`` by gradient ascent on the image.

    Args:
        model: a ``Module`` in eval mode.
        x: one preprocessed input ``(C, H, W)``.
        layer: the layer whose activation is maximized.
        steps: ascent steps per octave.
        lr: mean absolute pixel change per step (in the model's input units).
        octaves: number of scales; octave o works on ``round(H / octave_scale^o)`` pixels.
        octave_scale: size ratio between consecutive octaves (> 1).
        jitter: maximum random roll in pixels (0 turns jitter off).
        objective: "mean" or "norm" (mean squared activation).
        clip: optional ``(low, high)`` range to keep pixels in after each step.
        seed: seed of the jitter offsets.
        callback: optional ``callback(octave, step, value)``.

    Returns:
        A dict with ``image`` ``(C, H, W)``, ``history`` (objective before each step, all
        octaves in order) and ``final`` (objective of the returned image).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"dream: expected one image (C, H, W), got shape {x.shape}")
    if steps < 1 or octaves < 1 or octave_scale <= 1 or jitter < 0 or lr <= 0:
        raise ValueError(f"dream: need steps >= 1, octaves >= 1, octave_scale > 1, jitter >= 0 and lr > 0; got "
                         f"steps={steps}, octaves={octaves}, octave_scale={octave_scale}, jitter={jitter}, lr={lr}")
    get_layer(model, layer, op="dream")
    full = x.shape[-2:]
    sizes = [tuple(max(1, int(round(s / octave_scale ** o))) for s in full) for o in reversed(range(octaves))]
    rng = np.random.default_rng(seed)
    history, detail = [], None
    original = Tensor(x[None].astype(np.float32))
    with no_grad():
        bases = [np.asarray(_resize(original, size).numpy()[0], dtype=np.float64) for size in sizes]
    for o, (size, base) in enumerate(zip(sizes, bases)):
        if detail is not None:
            with no_grad():
                detail = np.asarray(_resize(Tensor(detail[None].astype(np.float32)), size).numpy()[0], np.float64)
        image = base + (0.0 if detail is None else detail)
        for step in range(steps):
            dy, dx = (rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0))
            rolled = np.roll(image, (int(dy), int(dx)), axis=(1, 2))
            value, grad = dream_objective(model, rolled, layer, objective, size=full)
            grad = np.roll(grad, (-int(dy), -int(dx)), axis=(1, 2))
            image = image + lr * grad / (np.abs(grad).mean() + 1e-8)
            if clip is not None:
                image = np.clip(image, clip[0], clip[1])
            history.append(value)
            if callback is not None:
                callback(o, step, value)
        detail = image - base
    final, _ = dream_objective(model, image, layer, objective, grad=False)
    return {"image": image, "history": history, "final": final}


def save_dream(model, x, path, layer: str, to_display, scale: int | None = None, classes=None, **kw):
    """Run DeepDream and draw the input and the dream side by side, titled, into a PNG.

    Args:
        to_display: maps a model-space image ``(C, H, W)`` back to [0, 1] pixels
            (undoes the normalization).
        classes: class names for the predictions (default: indices).
        kw: passed to ``deep_dream``.

    Returns:
        ``(result dict of deep_dream, path written)``.
    """
    from .occlusion import class_probabilities

    result = deep_dream(model, x, layer, **kw)
    before = chw_to_hwc(np.clip(to_display(np.asarray(x, dtype=np.float64)), 0, 1))
    after = chw_to_hwc(normalize(to_display(result["image"])))
    if scale is None:
        scale = max(1, 224 // x.shape[-1])
    titles = []
    for name, image in (("input", x), ("dream", result["image"])):
        probs = class_probabilities(model, image)
        titles.append(f"{name}: " + prediction_text(probs, int(np.argmax(probs)), classes).replace("predicted ", ""))
    objective = kw.get("objective", "mean")
    figure = compose([Panel(before, titles[0]), Panel(after, titles[1])], scale=scale,
                     heading=f"DeepDream on {layer} ({objective}): {result['history'][0]:.3g} -> {result['final']:.3g}",
                     caption="The dream is shown min-max scaled; the titles give each image's predicted class.")
    return result, save_png(figure, path)
