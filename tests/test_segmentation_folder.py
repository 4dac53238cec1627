"""Segmentation data in an image folder (images/ + masks/), U-Net training on it, and `minigrad predict` masks."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from minigrad.cli.app import app
from minigrad.viz.render import PALETTE
from minigrad.data import DataError, load_dataset


def make_folder(root, n=8, size=16, seed=0):
    """Squares (class 1) and background (class 0) on noise: the mask is known by construction."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    masks = []
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        top, left = rng.integers(0, size // 2, 2)
        mask[top:top + size // 2, left:left + size // 2] = 1
        image = (rng.uniform(0, 60, (size, size, 3)) + 180 * mask[..., None]).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / f"img{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"img{i}.png")
        masks.append(mask)
    return np.stack(masks)


def test_folder_with_masks_loads_as_a_segmentation_set(tmp_path):
    masks = make_folder(tmp_path)
    (tmp_path / "classes.txt").write_text("background\nsquare\n")
    ds = load_dataset("folder", root=tmp_path, channels=3)
    assert ds.task == "segmentation" and ds.classes == ["background", "square"]
    assert ds.images.shape == (8, 3, 16, 16) and np.array_equal(ds.targets, masks)


def test_folder_masks_bad_input_names_the_file(tmp_path):
    make_folder(tmp_path, n=2)
    (tmp_path / "masks" / "img1.png").unlink()
    with pytest.raises(DataError, match=r"img1\.png: no mask named img1"):
        load_dataset("folder", root=tmp_path)
    Image.fromarray(np.full((16, 16), 5, np.uint8)).save(tmp_path / "masks" / "img1.png")
    (tmp_path / "classes.txt").write_text("background\nsquare\n")
    with pytest.raises(DataError, match="class index 5 but only 2 classes"):
        load_dataset("folder", root=tmp_path)


def test_unet_trains_on_a_mask_folder_and_predict_writes_the_mask(tmp_path):
    from minigrad.train import TrainConfig, fit

    masks = make_folder(tmp_path / "data", n=16)
    result = fit(TrainConfig(model="unet", dataset="folder", data_dir=str(tmp_path / "data"), epochs=4,
                             batch_size=4, lr=1e-2, out_dir=str(tmp_path / "run"),
                             model_kwargs={"depth": 2, "base_channels": 4}), callbacks=[])
    last = result.history[-1]
    assert 0.0 <= last["test_miou"] <= 1.0 and 0.0 <= last["test_acc"] <= 1.0
    out = CliRunner().invoke(app, ["predict", str(result.best_path), str(tmp_path / "data" / "images" / "img0.png"),
                                   "--out", str(tmp_path / "masks"), "--json"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.output)[0]
    written = np.asarray(Image.open(record["mask"]))
    assert written.shape == (16, 16) and set(np.unique(written)) <= {0, 1}
    assert abs(sum(record["class_fraction"].values()) - 1) < 1e-9
    # Bright squares on dark noise: the trained net finds most of the square.
    assert np.mean(written == masks[0]) > 0.8
    # Beside the class-index mask: a picture of image | coloured mask | legend, in the class colours.
    view = np.asarray(Image.open(record["view"]).convert("RGB"))
    assert record["view"].endswith("img0-mask-view.png") and view.shape[1] > 2 * 16 * (256 // 16)
    colours = {tuple(c) for c in view.reshape(-1, 3)}
    assert tuple(PALETTE[0]) in colours and tuple(PALETTE[1]) in colours
