"""Built-in synthetic datasets that need no download.

- ``synth-digits``: 28x28 grayscale digits 0-9 rendered with Pillow's scalable default font,
  then randomly scaled, rotated, sheared, shifted, elastically distorted and noised - an
  MNIST stand-in that a LeNet learns well but not trivially.
- ``synth-shapes``: 64x64 RGB scenes of circles, squares and triangles with per-pixel class
  masks (0 background, 1 circle, 2 square, 3 triangle) for segmentation.

Both are deterministic functions of ``(seed, split, size)``. The expensive part (font
rendering) happens once per glyph; every per-image transformation is one vectorized
bilinear resampling of the whole set.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["synth_digits", "synth_shapes", "DIGIT_CLASSES", "SHAPE_CLASSES", "SPLIT_IDS"]

DIGIT_CLASSES = [str(d) for d in range(10)]
SHAPE_CLASSES = ["background", "circle", "square", "triangle"]
SPLIT_IDS = {"train": 0, "test": 1, "val": 2}

_CANVAS = 56          # glyph canvas (pixels); glyphs are minified about 2x into 28x28
_FONT_SIZE = 36
_STROKES = (0, 1, 2)


@functools.lru_cache(maxsize=1)
def _glyphs():
    """Rendered digits: ``(images (10 * len(_STROKES), C, C) float32, centers (G, 2), heights (G,))``."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=_FONT_SIZE)
        upscale = 1
    except (TypeError, OSError, ImportError):
        # Pillow < 10.1 or without FreeType: a small bitmap font, drawn small and enlarged.
        font = ImageFont.load_default()
        upscale = 3
    images, centers, heights = [], [], []
    for digit in range(10):
        for stroke in _STROKES:
            size = _CANVAS // upscale
            img = Image.new("L", (size, size), 0)
            draw = ImageDraw.Draw(img)
            sw = stroke // upscale
            left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font, stroke_width=sw)
            x = (size - (right - left)) / 2 - left
            y = (size - (bottom - top)) / 2 - top
            draw.text((x, y), str(digit), fill=255, font=font, stroke_width=sw, stroke_fill=255)
            if upscale != 1:
                img = img.resize((_CANVAS, _CANVAS), Image.BILINEAR)
            array = np.asarray(img, dtype=np.float32) / 255.0
            rows = np.nonzero(array.max(axis=1) > 0.3)[0]
            cols = np.nonzero(array.max(axis=0) > 0.3)[0]
            images.append(array)
            centers.append(((rows[0] + rows[-1]) / 2.0, (cols[0] + cols[-1]) / 2.0))
            heights.append(rows[-1] - rows[0] + 1.0)
    return np.stack(images), np.asarray(centers), np.asarray(heights)


def _bilinear_gather(images, index, ys, xs):
    """``images[index[n], ys[n], xs[n]]`` with bilinear weights and zeros outside (vectorized over n)."""
    height, width = images.shape[1:]
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    wy = (ys - y0).astype(np.float32)
    wx = (xs - x0).astype(np.float32)
    out = np.zeros(ys.shape, dtype=np.float32)
    n = index.reshape((-1,) + (1,) * (ys.ndim - 1))
    for dy, weight_y in ((0, 1 - wy), (1, wy)):
        for dx, weight_x in ((0, 1 - wx), (1, wx)):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            values = images[n, np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)]
            out += np.where(inside, values, 0.0) * weight_y * weight_x
    return out


def _smooth_field(rng, n, size, grid, amplitude):
    """Random displacement fields (n, size, size): normal values on a coarse grid, bilinearly upsampled."""
    coarse = rng.standard_normal((n, grid, grid)) * amplitude
    # Interpolation matrix from the coarse grid to `size` pixels (rows sum to 1).
    pos = np.linspace(0, grid - 1, size)
    lower = np.clip(np.floor(pos).astype(int), 0, grid - 2)
    frac = pos - lower
    up = np.zeros((size, grid))
    up[np.arange(size), lower] = 1 - frac
    up[np.arange(size), lower + 1] = frac
    return up @ coarse @ up.T


@functools.lru_cache(maxsize=8)
def synth_digits(size: int, seed: int = 0, split: str = "train"):
    """Render ``size`` random digits.

    Args:
        size: number of images.
        seed: random seed; with ``split`` it fully determines the images.
        split: "train", "test" or "val" (different streams for the same seed).

    Returns:
        ``(images (size, 1, 28, 28) uint8, labels (size,) int64)`` (read-only arrays).
    """
    if size < 0:
        raise ValueError(f"synth-digits: size must be non-negative, got {size}")
    rng = np.random.default_rng([int(seed), SPLIT_IDS.get(split, 3), 17])
    glyphs, centers, heights = _glyphs()
    labels = rng.integers(0, 10, size)
    stroke = rng.integers(0, len(_STROKES), size)
    index = labels * len(_STROKES) + stroke
    # Per-image affine map output -> glyph: inverse of (zoom * rotation * shear), plus a shift.
    target_height = rng.uniform(15.0, 21.0, size)
    zoom = target_height / heights[index]
    angle = np.deg2rad(rng.uniform(-18.0, 18.0, size))
    shear = rng.uniform(-0.3, 0.3, size)
    aspect = rng.uniform(0.8, 1.15, size)
    shift = rng.uniform(-2.5, 2.5, (size, 2))
    out = 28
    grid = np.arange(out, dtype=np.float64) - (out - 1) / 2.0
    gy = grid[None, :, None] - shift[:, 0, None, None]
    gx = grid[None, None, :] - shift[:, 1, None, None]
    # Elastic distortion: smooth random displacements of the sampling grid (in output pixels).
    gy = gy + _smooth_field(rng, size, out, 4, 0.9)
    gx = gx + _smooth_field(rng, size, out, 4, 0.9)
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    ry = cos * gy - sin * gx
    rx = sin * gy + cos * gx
    rx = rx - shear[:, None, None] * ry
    inv = (1.0 / zoom)[:, None, None]
    ys = centers[index, 0][:, None, None] + ry * inv
    xs = centers[index, 1][:, None, None] + rx * inv / aspect[:, None, None]
    images = _bilinear_gather(glyphs, index, ys, xs)
    # Minifying ~2x with bilinear sampling leaves thin strokes faint; a gamma lifts them.
    images = np.power(np.clip(images, 0.0, 1.0), rng.uniform(0.75, 1.0, size)[:, None, None])
    images *= rng.uniform(0.75, 1.0, size)[:, None, None].astype(np.float32)
    noise_level = rng.uniform(0.0, 0.08, size)[:, None, None].astype(np.float32)
    images += rng.normal(0.0, 1.0, images.shape).astype(np.float32) * noise_level
    images = (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)[:, None]
    images.setflags(write=False)
    labels = labels.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=8)
def synth_shapes(size: int, seed: int = 0, split: str = "train", image_size: int = 64, max_shapes: int = 4):
    """Draw ``size`` scenes of random shapes with their segmentation masks.

    Each scene has a random dark background with a gentle gradient and 1..``max_shapes``
    shapes (circle, square rotated by a random angle, equilateral triangle) of random bright
    colours; later shapes occlude earlier ones in both image and mask.

    Args:
        size: number of images.
        seed: random seed; with ``split`` it fully determines the scenes.
        split: "train", "test" or "val".
        image_size: side of the square images.
        max_shapes: most shapes per scene.

    Returns:
        ``(images (size, 3, S, S) uint8, masks (size, S, S) int64)`` with mask values 0..3 (read-only).
    """
    if size < 0:
        raise ValueError(f"synth-shapes: size must be non-negative, got {size}")
    rng = np.random.default_rng([int(seed), SPLIT_IDS.get(split, 3), 29])
    s = image_size
    yy, xx = np.meshgrid(np.arange(s, dtype=np.float32) + 0.5, np.arange(s, dtype=np.float32) + 0.5, indexing="ij")
    base = rng.uniform(0.0, 0.35, (size, 3, 1, 1)).astype(np.float32)
    slope = rng.uniform(-0.15, 0.15, (size, 2, 1, 1)).astype(np.float32)
    ramp = (slope[:, 0] * yy + slope[:, 1] * xx) / s
    images = np.clip(base + ramp[:, None], 0.0, 1.0).astype(np.float32)
    masks = np.zeros((size, s, s), dtype=np.int64)
    count = rng.integers(1, max_shapes + 1, size)
    for k in range(max_shapes):
        active = (k < count)[:, None, None]
        kind = rng.integers(1, 4, size)[:, None, None]
        radius = rng.uniform(0.09 * s, 0.22 * s, size)[:, None, None].astype(np.float32)
        cy = rng.uniform(0.15 * s, 0.85 * s, size)[:, None, None].astype(np.float32)
        cx = rng.uniform(0.15 * s, 0.85 * s, size)[:, None, None].astype(np.float32)
        theta = rng.uniform(0.0, 2 * np.pi, size)[:, None, None].astype(np.float32)
        color = rng.uniform(0.5, 1.0, (size, 3, 1, 1)).astype(np.float32)
        dy, dx = yy - cy, xx - cx
        # Coordinates in the shape's rotated frame.
        u = np.cos(theta) * dx + np.sin(theta) * dy
        v = -np.sin(theta) * dx + np.cos(theta) * dy
        circle = dy * dy + dx * dx <= radius * radius
        half = radius * 0.85
        square = (np.abs(u) <= half) & (np.abs(v) <= half)
        # Equilateral triangle with circumradius 1.2 r: inside all three edge half-planes.
        tri_r = radius * 1.2
        triangle = np.ones_like(circle)
        for edge in range(3):
            phi = theta + np.float32(np.pi / 2 + edge * 2 * np.pi / 3)
            triangle &= np.cos(phi) * dx + np.sin(phi) * dy <= tri_r / 2
        inside = np.where(kind == 1, circle, np.where(kind == 2, square, triangle)) & active
        masks = np.where(inside, kind, masks)
        images = np.where(inside[:, None], color, images)
    images += rng.normal(0.0, 0.03, images.shape).astype(np.float32)
    images = (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    images.setflags(write=False)
    masks.setflags(write=False)
    return images, masks
