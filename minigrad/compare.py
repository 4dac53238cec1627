"""Summaries of registered models and the course's comparison of architectures: parameters,
GMACs, activation memory and depth.

``summarize_registered()`` builds one registered model for an input size and summarises it
(``minigrad summary MODEL``); ``compare()`` summarises every registered model at one input size
(``minigrad summary --compare``), ``format_compare`` prints the table and ``plot_cost`` draws
parameters against GMACs as a PNG.
"""

from __future__ import annotations

import inspect
import math

from .model_summary import summary

__all__ = ["summarize_registered", "compare", "format_compare", "plot_cost"]

_FAMILIES = ("lenet", "alexnet", "vgg", "googlenet", "resnet", "unet")


def _course_order(names, model_info) -> list:
    """Registered names without aliases (one name per constructor), in the course's order."""
    by_fn = {}
    for name in names:
        fn = model_info(name)["fn"]
        if fn not in by_fn or name == fn.__name__:
            by_fn[fn] = name
    rank = {f: i for i, f in enumerate(_FAMILIES)}
    family = lambda n: next((rank[f] for f in _FAMILIES if n.startswith(f)), len(_FAMILIES))  # noqa: E731
    return sorted(by_fn.values(), key=lambda n: (family(n), len(n), n))


def summarize_registered(name: str, input_size=None, small_input: bool = False, num_classes: int | None = None):
    """The ``Summary`` of the registered model ``name``, built for ``input_size``.

    Args:
        name: a registry name.
        input_size: (C, H, W); default: the registered size, (C, 32, 32) with ``small_input``.
            C is passed as ``in_channels`` to models that take it.
        small_input: build the 28x28/32x32 variant.
        num_classes: output classes (default: the model's).

    Raises:
        ValueError: an unknown name, a model without a small-input variant, or an input that
            is too small for the model (``InputTooSmallError``).
    """
    from .models import get_model, model_info

    info = model_info(name)
    accepted = inspect.signature(info["fn"]).parameters
    size = tuple(input_size) if input_size is not None else tuple(info["input_size"])
    if input_size is None and small_input:
        size = (size[0], 32, 32)
    kwargs = {}
    if "in_channels" in accepted:
        kwargs["in_channels"] = size[0]
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if small_input:
        if "small_input" not in accepted:
            raise ValueError(f"summary: {name} has no small-input variant (it takes {', '.join(accepted)})")
        kwargs["small_input"] = True
    return summary(get_model(name, **kwargs), size)


def compare(names=None, input_size=(3, 224, 224), progress=None) -> list:
    """Summarise registered models at one input size for the course's comparison table.

    Models whose registered input is smaller than ``input_size`` (LeNet-5) run at their own (C, H, W);
    the auxiliary heads of GoogLeNet are left out (``aux_logits=False``), as they are training-only.

    Args:
        names: registered model names (default: all, without aliases, in the course's order).
        input_size: (C, H, W); C is passed to the models as ``in_channels``.
        progress: optional callable receiving each name before it runs.

    Returns:
        One dict per model: name, input_size, params, gmacs, memory (bytes), depth.
    """
    from .models import get_model, list_models, model_info

    rows = []
    for name in names or _course_order(list_models(), model_info):
        if progress is not None:
            progress(name)
        info = model_info(name)
        size = tuple(input_size)
        if info["task"] == "classification" and info["input_size"][1] < size[1]:
            size = tuple(info["input_size"])
        accepted = inspect.signature(info["fn"]).parameters
        kwargs = {"in_channels": size[0]}
        if "aux_logits" in accepted:
            kwargs["aux_logits"] = False
        s = summary(get_model(name, **kwargs), size)
        rows.append({"name": name, "input_size": size, "params": s.total_params, "gmacs": s.total_macs / 1e9,
                     "memory": s.total_memory, "depth": s.depth})
    return rows


def format_compare(rows) -> str:
    """The comparison table as Markdown (it reads as plain text too)."""
    lines = ["| model | input | params | GMACs | activations (MB) | depth |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        gmacs, mb = r["gmacs"], r["memory"] / 2 ** 20
        # Two significant digits for LeNet-sized numbers, which would print as 0.000.
        gmacs = f"{gmacs:.3f}" if gmacs >= 0.01 else f"{gmacs:.2g}"
        mb = f"{mb:.1f}" if mb >= 1 else f"{mb:.2g}"
        lines.append(f"| {r['name']} | {'x'.join(map(str, r['input_size']))} | {r['params']:,} | {gmacs} "
                     f"| {mb} | {r['depth']} |")
    return "\n".join(lines)


def plot_cost(rows, path, size=(900, 640)) -> None:
    """Write a PNG scatter plot of parameters (millions) against GMACs, both on log axes.

    The axes are cut at the 1-2-5 values around the models compared at the common input size,
    so they spread over the plot; models that run at their own, smaller input (LeNet-5 at
    28x28) are not comparable and are listed under the chart instead. Each label sits beside
    its dot, joined to it by a leader line when it had to move away; models at the same point
    share a label ("vgg16/vgg16_bn"). Dots are coloured by family.
    """
    from collections import Counter

    from PIL import Image, ImageDraw

    from .viz.plot import INK, Axes, font, legend, log_ticks, text_size
    from .viz.render import PALETTE

    width, height = size
    common = Counter(tuple(r["input_size"]) for r in rows).most_common(1)[0][0]
    shown = [r for r in rows if tuple(r["input_size"]) == common]
    apart = [r for r in rows if tuple(r["input_size"]) != common]
    xs = [max(r["gmacs"], 1e-6) for r in shown]
    ys = [max(r["params"] / 1e6, 1e-6) for r in shown]
    x_lo, x_hi, x_ticks = log_ticks(min(xs), max(xs))
    y_lo, y_hi, y_ticks = log_ticks(min(ys), max(ys))
    image = Image.new("RGB", size, "white")
    box = (84, 74, width - 30, height - (84 if apart else 62))
    axes = Axes(image, box, (x_lo, x_hi), (y_lo, y_hi), x_log=True, y_log=True)
    fmt = lambda v: f"{v:g}"  # noqa: E731
    axes.frame(x_ticks, y_ticks, f"GMACs per image at {'x'.join(map(str, common))} (log scale)",
               "parameters, millions (log scale)", x_format=fmt, y_format=fmt)
    draw, typeface = axes.draw, font(13)
    title = "Model cost: parameters against multiply-accumulates"
    draw.text(((width - text_size(draw, title, font(16))[0]) / 2, 10), title, fill=INK, font=font(16))
    families = [f for f in _FAMILIES if any(r["name"].startswith(f) for r in shown)]
    colour = {f: tuple(int(c) for c in PALETTE[i % len(PALETTE)]) for i, f in enumerate(_FAMILIES)}
    entries = [(f, colour[f]) for f in families]
    legend_w = legend(ImageDraw.Draw(Image.new("RGB", (1, 1))), (0, 0), entries)
    legend(draw, ((width - legend_w) / 2, 38), entries)
    points = []  # (px, py, names, colour): models at (almost) the same pixel share one dot and label
    for r, gx, py in zip(shown, xs, ys):
        px, py_ = axes.px(gx, py)
        family = next((f for f in _FAMILIES if r["name"].startswith(f)), None)
        for point in points:
            if abs(point[0] - px) < 6 and abs(point[1] - py_) < 6:
                point[2].append(r["name"])
                break
        else:
            points.append((px, py_, [r["name"]], colour.get(family, INK)))
    for px, py_, _, c in points:
        draw.ellipse([px - 5, py_ - 5, px + 5, py_ + 5], fill=c)
    taken = [(px - 7, py_ - 7, px + 7, py_ + 7) for px, py_, _, _ in points]
    for px, py_, names, c in sorted(points, key=lambda p: (p[1], p[0])):
        text = "/".join(names)
        w, h = text_size(draw, text, typeface)
        spot = _label_spot(px, py_, w, h, taken, box)
        taken.append(spot)
        if abs(spot[0] - px) > 12 and abs(spot[2] - px) > 12 or abs((spot[1] + spot[3]) / 2 - py_) > 10:
            # Leader line from the dot's rim to the nearest point of the label's box.
            nx, ny = min(max(px, spot[0]), spot[2]), min(max(py_, spot[1]), spot[3])
            length = math.hypot(nx - px, ny - py_) or 1.0
            draw.line([px + 6 * (nx - px) / length, py_ + 6 * (ny - py_) / length, nx, ny], fill=(150, 150, 150))
        draw.text((spot[0] + 1, spot[1] - 1), text, fill=INK, font=typeface)
    if apart:
        note = "Not drawn, at their own input size: " + "; ".join(
            f"{r['name']} {'x'.join(map(str, r['input_size']))}: {r['gmacs']:.2g} GMACs, {r['params'] / 1e6:.2g} M"
            for r in apart)
        draw.text((box[0], height - 24), note, fill=INK, font=font(12))
    image.save(path)


def _label_spot(px, py, w, h, taken, box):
    """A free ``(x0, y0, x1, y1)`` for a w x h label near the dot at (px, py): right of it if free,
    else the nearest free place on rings around it (inside ``box``, off dots and other labels)."""
    def free(b):
        inside = box[0] + 2 <= b[0] and b[2] <= box[2] - 2 and box[1] + 2 <= b[1] and b[3] <= box[3] - 2
        return inside and not any(b[0] < t[2] and t[0] < b[2] and b[1] < t[3] and t[1] < b[3] for t in taken)

    for radius in (0, 18, 32, 48, 66, 86, 110):
        for angle in (0, 30, -30, 180, 150, -150, 60, -60, 120, -120, 90, -90):
            dx, dy = radius * math.cos(math.radians(angle)), -radius * math.sin(math.radians(angle))
            x0 = px + 9 + dx if math.cos(math.radians(angle)) >= 0 else px - 9 - w + dx
            spot = (x0, py - h / 2 + dy, x0 + w + 2, py + h / 2 + dy + 2)
            if free(spot):
                return spot
    return (px + 9, py - h / 2, px + 9 + w + 2, py + h / 2 + 2)
