"""``minigrad viz``: one command per visualization method of ``minigrad.viz``, each writing a PNG.

Every command takes a checkpoint (or, for ``curves``, a run folder), ``--out PATH`` (default:
``<checkpoint folder>/<checkpoint name>-<method>.png``) and prints the path it wrote. Images
are files (converted to the model's channels and size, with a note) or ``SPLIT:INDEX`` for an
image of the checkpoint's dataset (``test:0``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from .errors import reported

CHECKPOINT_HELP = "Checkpoint (.npz) or ONNX model (.onnx)."
MODEL_HELP = "Registry name of the model, for checkpoints that do not record it."
OUT_HELP = "PNG to write."
OUT_DEFAULT = "beside the checkpoint, named after the method"
INVERT_HELP = "Invert the grey levels of an image file (dark digits on white paper -> MNIST style)."
INVERT_DEFAULT = "when a grey image's background is light and the training images' dark"
IMAGE_HELP = "An image file, or SPLIT:INDEX (e.g. test:0) for an image of the checkpoint's dataset."


def _note(message: str) -> None:
    typer.secho(f"note: {message}", fg="yellow")


def _wrote(path) -> None:
    typer.echo(f"wrote {path}")


@contextlib.contextmanager
def _progress(description: str):
    """A rich progress bar on stderr; yields ``update(done, total)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done, total):
            bar.update(task, completed=done, total=total)

        yield update


def _load(checkpoint: Path, model: Optional[str]):
    from minigrad.viz.source import load_model

    return load_model(checkpoint, model, note=_note)


def _image(vm, spec: str, data_dir: Optional[Path], invert: Optional[bool] = None):
    from minigrad.data.background import needs_inversion
    from minigrad.viz.source import resolve_image

    pixels, label = resolve_image(spec, vm, None if data_dir is None else str(data_dir), note=_note)
    if label is None:  # a file, not an image of the dataset
        if invert is None and needs_inversion(pixels, vm.mean):
            _note(f"{spec}: light background; inverted it to light-on-dark like the training images "
                  f"(--no-invert keeps it)")
            invert = True
        if invert:
            pixels = 1.0 - pixels
    return pixels, vm.preprocess(pixels), label


def _dataset(vm, dataset, split, data_dir, n):
    from minigrad.viz.source import load_dataset_images

    pixels, labels, classes = load_dataset_images(vm, dataset, split, None if data_dir is None else str(data_dir),
                                                  limit=n, note=_note)
    return pixels, vm.preprocess(pixels), labels, classes


def _fill_value(text: str):
    """None for "mean", else a grey level in [0, 1]."""
    if text == "mean":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"viz occlusion: --fill must be 'mean' or a grey level in [0, 1], got {text!r}")
    return value


def _class_name(vm, k: int) -> str:
    return f"{k} ({vm.classes[k]})" if 0 <= k < len(vm.classes) and vm.classes[k] != str(k) else str(k)


def register(app: typer.Typer) -> None:
    """Add the ``viz`` sub-app with all its commands to ``app``."""
    viz = typer.Typer(name="viz", no_args_is_help=True,
                      help="See inside a trained network: filters, activations, saliency, occlusion, embeddings, "
                           "neighbours, top patches, DeconvNet, DeepDream, training curves.")
    app.add_typer(viz, name="viz")

    @viz.command()
    def filters(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
                layer: Optional[str] = typer.Option(None, help="Convolution layer.", show_default="the first"),
                model: Optional[str] = typer.Option(None, help=MODEL_HELP),
                scale: Optional[int] = typer.Option(None, min=1, help="Pixels per kernel weight.",
                                                    show_default="at least 8, the grid about 360 px wide"),
                out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """Draw a convolution's kernels as a normalized grid (colour for RGB inputs)."""
        from minigrad.viz.filters import save_filters

        with reported("viz filters"):
            vm = _load(checkpoint, model)
            name, figure, path = save_filters(vm.model, out or vm.default_out("filters"), layer, scale)
            typer.echo(f"{name}: figure {figure.shape[1]}x{figure.shape[0]} px")
            _wrote(path)

    @viz.command()
    def activations(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
                    image: str = typer.Argument(..., help=IMAGE_HELP),
                    layer: Optional[str] = typer.Option(None, help="Layer.", show_default="the first convolution"),
                    model: Optional[str] = typer.Option(None, help=MODEL_HELP),
                    data_dir: Optional[Path] = typer.Option(None, help="Dataset folder for SPLIT:INDEX images."),
                    invert: Optional[bool] = typer.Option(None, "--invert/--no-invert", help=INVERT_HELP,
                                                          show_default=INVERT_DEFAULT),
                    out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """Draw the feature maps of a layer for one input, as a grid."""
        from minigrad.viz.activations import save_activations

        with reported("viz activations"):
            vm = _load(checkpoint, model)
            _, x, _ = _image(vm, image, data_dir, invert)
            name, act, path = save_activations(vm.model, x, out or vm.default_out("activations"), layer)
            typer.echo(f"{name}: output {'x'.join(map(str, act.shape))}")
            _wrote(path)

    @viz.command()
    def saliency(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
                 image: str = typer.Argument(..., help=IMAGE_HELP),
                 target: Optional[int] = typer.Option(None, "--class", help="Class index.", show_default="predicted"),
                 model: Optional[str] = typer.Option(None, help=MODEL_HELP),
                 data_dir: Optional[Path] = typer.Option(None, help="Dataset folder for SPLIT:INDEX images."),
                 invert: Optional[bool] = typer.Option(None, "--invert/--no-invert", help=INVERT_HELP,
                                                       show_default=INVERT_DEFAULT),
                 out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """Gradient of a class score w.r.t. the pixels: input | heat map | overlay | guided backprop."""
        from minigrad.viz.saliency import save_saliency

        with reported("viz saliency"):
            vm = _load(checkpoint, model)
            pixels, x, _ = _image(vm, image, data_dir, invert)
            sal, k, path = save_saliency(vm.model, x, pixels, out or vm.default_out("saliency"), target,
                                         classes=vm.classes)
            peak = np.unravel_index(int(np.argmax(sal)), sal.shape)
            typer.echo(f"class {_class_name(vm, k)}: saliency peaks at (row {peak[0]}, col {peak[1]})")
            _wrote(path)

    @viz.command()
    def occlusion(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
                  image: str = typer.Argument(..., help=IMAGE_HELP),
                  patch: int = typer.Option(8, help="Side of the occluding patch in pixels."),
                  fill: str = typer.Option("mean", help="Patch colour: 'mean' (the dataset's mean colour, "
                                                        "Zeiler & Fergus's grey) or a grey level in [0, 1]."),
                  stride: int = typer.Option(2, help="Step between patch positions."),
                  target: Optional[int] = typer.Option(None, "--class", help="Class index.", show_default="predicted"),
                  batch_size: int = typer.Option(64, help="Occluded images per forward pass."),
                  model: Optional[str] = typer.Option(None, help=MODEL_HELP),
                  data_dir: Optional[Path] = typer.Option(None, help="Dataset folder for SPLIT:INDEX images."),
                  invert: Optional[bool] = typer.Option(None, "--invert/--no-invert", help=INVERT_HELP,
                                                        show_default=INVERT_DEFAULT),
                  out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """Slide a grey patch over the image and map the drop in the class's probability."""
        from minigrad.viz.occlusion import save_occlusion

        with reported("viz occlusion"):
            value = _fill_value(fill)
            vm = _load(checkpoint, model)
            pixels, x, _ = _image(vm, image, data_dir, invert)
            with _progress("occluding") as update:
                result, path = save_occlusion(vm.model, x, pixels, out or vm.default_out("occlusion"), target,
                                              patch, stride, vm.fill(value), batch_size, update,
                                              classes=vm.classes)
            drops = result["drops"]
            typer.echo(f"class {_class_name(vm, result['target'])}: p = {result['probability']:.3f}; "
                       f"{drops.size} positions, largest drop {drops.max():.3f}")
            _wrote(path)

    @viz.command()
    def embed(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
              method: str = typer.Option("tsne", help="pca|tsne"),
              n: int = typer.Option(1000, help="Number of test images."),
              perplexity: float = typer.Option(30.0, help="t-SNE perplexity."),
              iters: int = typer.Option(1000, help="t-SNE iterations."),
              layer: Optional[str] = typer.Option(None, help="Feature layer.", show_default="input of the last Linear"),
              dataset: Optional[str] = typer.Option(None, help="Dataset.", show_default="the checkpoint's"),
              split: Optional[str] = typer.Option(None, help="Split.", show_default="the checkpoint's test split"),
              data_dir: Optional[Path] = typer.Option(None, help="Dataset folder.", show_default="the checkpoint's"),
              seed: int = typer.Option(0, help="Seed of the t-SNE initialisation."),
              model: Optional[str] = typer.Option(None, help=MODEL_HELP),
              out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """Last hidden layer features of N test images in 2-D (PCA or t-SNE), coloured by class."""
        from minigrad.viz.embed import embed as reduce, extract_features, scatter_plot
        from minigrad.viz.render import save_png

        with reported("viz embed"):
            if method not in ("pca", "tsne"):
                raise ValueError(f"viz embed: unknown method {method!r}; use pca or tsne")
            vm = _load(checkpoint, model)
            _, x, labels, classes = _dataset(vm, dataset, split, data_dir, n)
            with _progress("features") as update:
                feats = extract_features(vm.model, x, layer, progress=update)
            kw = {}
            with _progress(method) as update:
                if method == "tsne":
                    kw = {"perplexity": perplexity, "n_iter": iters, "progress": update}
                points = reduce(feats, method, seed=seed, **kw)
            title = (f"{'PCA' if method == 'pca' else 't-SNE'} of {layer or 'last hidden layer'} features, "
                     f"N={len(points)}")
            path = save_png(scatter_plot(points, labels, classes, title=title), out or vm.default_out(method))
            typer.echo(f"{method}: {len(x)} images, {feats.shape[1]} features each")
            _wrote(path)

    @viz.command()
    def neighbors(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
                  k: int = typer.Option(6, help="Neighbours per query."),
                  queries: int = typer.Option(6, help="Number of query images (the first of the split)."),
                  n: int = typer.Option(2000, help="Images searched."),
                  layer: Optional[str] = typer.Option(None, help="Feature layer.",
                                                      show_default="input of the last Linear"),
                  dataset: Optional[str] = typer.Option(None, help="Dataset.", show_default="the checkpoint's"),
                  split: Optional[str] = typer.Option(None, help="Split.", show_default="the checkpoint's test split"),
                  data_dir: Optional[Path] = typer.Option(None, help="Dataset folder.",
                                                          show_default="the checkpoint's"),
                  model: Optional[str] = typer.Option(None, help=MODEL_HELP),
                  out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """K nearest neighbours of a few images in feature space and, beside them, in pixel space."""
        from minigrad.viz.neighbors import save_neighbors

        with reported("viz neighbors"):
            vm = _load(checkpoint, model)
            pixels, x, labels, _ = _dataset(vm, dataset, split, data_dir, n)
            q = np.arange(min(queries, len(x)))
            with _progress("features") as update:
                by_f, by_p, path = save_neighbors(vm.model, x, pixels, out or vm.default_out("neighbors"), q, k,
                                                  labels, layer, progress=update)
            same_f = float(np.mean(labels[by_f] == labels[q, None]))
            same_p = float(np.mean(labels[by_p] == labels[q, None]))
            typer.echo(f"same class as the query: {100 * same_f:.0f}% in feature space, {100 * same_p:.0f}% in pixel space")
            _wrote(path)

    @viz.command()
    def patches(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
                layer: str = typer.Option(..., help="Convolutional layer."),
                units: int = typer.Option(8, help="Number of units (the first channels)."),
                k: int = typer.Option(8, help="Patches per unit."),
                n: int = typer.Option(2000, help="Images searched."),
                dataset: Optional[str] = typer.Option(None, help="Dataset.", show_default="the checkpoint's"),
                split: Optional[str] = typer.Option(None, help="Split.", show_default="the checkpoint's test split"),
                data_dir: Optional[Path] = typer.Option(None, help="Dataset folder.", show_default="the checkpoint's"),
                model: Optional[str] = typer.Option(None, help=MODEL_HELP),
                out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """For each unit, the dataset patches (its receptive field) that activate it most, one row per unit."""
        from minigrad.viz.patches import layer_receptive_field, save_patches

        with reported("viz patches"):
            vm = _load(checkpoint, model)
            rf = layer_receptive_field(vm.model, vm.input_size, layer)
            pixels, x, _, _ = _dataset(vm, dataset, split, data_dir, n)
            with _progress("activations") as update:
                crops, _, path = save_patches(vm.model, x, pixels, out or vm.default_out("patches"), layer, rf,
                                              list(range(units)), k, progress=update)
            typer.echo(f"{layer}: receptive field {rf[0]} px (jump {rf[1]}, start {rf[2]}); {crops.shape[0]} units")
            _wrote(path)

    @viz.command()
    def deconvnet(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
                  image: str = typer.Argument(..., help=IMAGE_HELP),
                  layer: str = typer.Option(..., help="Layer holding the activation."),
                  unit: int = typer.Option(..., help="Channel (feature map) of that layer."),
                  model: Optional[str] = typer.Option(None, help=MODEL_HELP),
                  data_dir: Optional[Path] = typer.Option(None, help="Dataset folder for SPLIT:INDEX images."),
                  invert: Optional[bool] = typer.Option(None, "--invert/--no-invert", help=INVERT_HELP,
                                                        show_default=INVERT_DEFAULT),
                  out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """Project the strongest activation of one unit back to pixels (unpool, ReLU, transposed conv)."""
        from minigrad.viz.deconvnet import save_deconvnet

        with reported("viz deconvnet"):
            vm = _load(checkpoint, model)
            pixels, x, _ = _image(vm, image, data_dir, invert)
            result, path = save_deconvnet(vm.model, x, pixels, out or vm.default_out("deconvnet"), layer, unit,
                                          classes=vm.classes)
            where = "" if result["position"] is None else f" at {result['position']}"
            typer.echo(f"{layer} unit {unit}: activation {result['activation']:.3f}{where}")
            _wrote(path)

    @viz.command()
    def dream(checkpoint: Path = typer.Argument(..., help=CHECKPOINT_HELP),
              image: str = typer.Argument(..., help=IMAGE_HELP),
              layer: str = typer.Option(..., help="Layer whose activation is amplified."),
              steps: int = typer.Option(20, help="Ascent steps per octave."),
              lr: float = typer.Option(0.05, help="Mean pixel change per step (normalized units)."),
              octaves: int = typer.Option(3, help="Number of scales."),
              octave_scale: float = typer.Option(1.4, help="Size ratio between octaves."),
              jitter: int = typer.Option(2, help="Maximum random shift in pixels."),
              objective: str = typer.Option("mean", help="mean|norm (mean squared activation)."),
              seed: int = typer.Option(0, help="Seed of the jitter."),
              model: Optional[str] = typer.Option(None, help=MODEL_HELP),
              data_dir: Optional[Path] = typer.Option(None, help="Dataset folder for SPLIT:INDEX images."),
              invert: Optional[bool] = typer.Option(None, "--invert/--no-invert", help=INVERT_HELP,
                                                    show_default=INVERT_DEFAULT),
              out: Optional[Path] = typer.Option(None, help=OUT_HELP, show_default=OUT_DEFAULT)) -> None:
        """DeepDream: gradient ascent on the image to amplify a layer's activations (octaves, jitter)."""
        from minigrad.viz.dream import save_dream

        with reported("viz dream"):
            vm = _load(checkpoint, model)
            _, x, _ = _image(vm, image, data_dir, invert)
            result, path = save_dream(vm.model, x, out or vm.default_out("dream"), layer, vm.to_display,
                                      classes=vm.classes,
                                      steps=steps, lr=lr, octaves=octaves, octave_scale=octave_scale,
                                      jitter=jitter, objective=objective, seed=seed)
            typer.echo(f"{layer} {objective}: {result['history'][0]:.4f} -> {result['final']:.4f}")
            _wrote(path)

    @viz.command()
    def curves(run_dir: Path = typer.Argument(..., help="Run folder written by `minigrad train`."),
               out: Optional[Path] = typer.Option(None, help="PNG to write.", show_default="RUN_DIR/curves.png"),
               backend: str = typer.Option("auto", help="auto|matplotlib|pillow")) -> None:
        """Redraw the training curves (loss and accuracy per epoch) of a run."""
        from minigrad.run_folder import read_history
        from minigrad.viz.curves import plot_curves

        with reported("viz curves"):
            history, title = read_history(run_dir)
            path = plot_curves(history, out or run_dir / "curves.png", title=title, backend=backend)
            _wrote(path)
