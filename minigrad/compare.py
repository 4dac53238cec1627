"""The course's comparison of architectures: parameters, GMACs, activation memory and depth.

``compare()`` summarises every registered model at one input size (``minigrad summary --compare``),
``format_compare`` prints the table and ``plot_cost`` draws parameters against GMACs as a PNG.
"""

from __future__ import annotations

import inspect
import math

from .summary import summary

__all__ = ["compare", "format_compare", "plot_cost"]

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
    """Write a PNG scatter plot of parameters (millions) against GMACs, both on log axes."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    left, right, top, bottom = 80, 30, 40, 60
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    xs = [max(r["gmacs"], 1e-4) for r in rows]
    ys = [max(r["params"] / 1e6, 1e-3) for r in rows]
    x_lo, x_hi = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y_lo, y_hi = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x_hi, y_hi = max(x_hi, x_lo + 1), max(y_hi, y_lo + 1)

    def to_pixel(gx, py):
        u = (math.log10(gx) - x_lo) / (x_hi - x_lo)
        v = (math.log10(py) - y_lo) / (y_hi - y_lo)
        return left + u * (width - left - right), height - bottom - v * (height - top - bottom)

    for e in range(x_lo, x_hi + 1):
        px, _ = to_pixel(10.0 ** e, 10.0 ** y_lo)
        draw.line([(px, top), (px, height - bottom)], fill=(225, 225, 225))
        draw.text((px - 12, height - bottom + 6), f"{10.0 ** e:g}", fill="black", font=font)
    for e in range(y_lo, y_hi + 1):
        _, py = to_pixel(10.0 ** x_lo, 10.0 ** e)
        draw.line([(left, py), (width - right, py)], fill=(225, 225, 225))
        draw.text((8, py - 6), f"{10.0 ** e:g}", fill="black", font=font)
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    draw.text((width // 2 - 90, height - 25), "GMACs per image (log)", fill="black", font=font)
    draw.text((8, 12), "parameters, millions (log)", fill="black", font=font)
    # Models at (almost) the same point share one label ("vgg16/vgg16_bn"); labels then step
    # down or up until they no longer cover one another.
    points = []
    for r, gx, py in zip(rows, xs, ys):
        px, py_ = to_pixel(gx, py)
        draw.ellipse([px - 4, py_ - 4, px + 4, py_ + 4], fill=(200, 40, 40))
        for point in points:
            if abs(point[0] - px) < 6 and abs(point[1] - py_) < 6:
                point[2].append(r["name"])
                break
        else:
            points.append((px, py_, [r["name"]]))
    placed = [(px - 5, py_ - 5, px + 5, py_ + 5) for px, py_, _ in points]
    for px, py_, names in points:
        text = "/".join(names)
        w, h = draw.textbbox((0, 0), text, font=font)[2:]
        for dy in (0, 12, -12, 24, -24, 36, -36, 48, -48):
            box = (px + 6, py_ - 6 + dy, px + 6 + w, py_ - 6 + dy + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        draw.text(box[:2], text, fill=(20, 20, 120), font=font)
    image.save(path)
