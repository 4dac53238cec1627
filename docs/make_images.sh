#!/usr/bin/env bash
# Regenerates every picture in docs/img/ (the README shows them). Needs the MNIST test files in
# $MNIST (default ../shared/data/mnist); took 6 min 47 s on two shared cores (load about 8).
set -euo pipefail
MNIST=${MNIST:-../shared/data/mnist}
RUN=${RUN:-/tmp/lenet-mnist}
IMG=docs/img
D="--data-dir $MNIST"
[ -f "$RUN/best.npz" ] || minigrad train lenet $D --train-split 'test[:8000]' --test-split 'test[8000:]' --out "$RUN" -q
minigrad viz curves "$RUN" --backend pillow --out $IMG/curves.png
minigrad viz filters "$RUN/best.npz" --out $IMG/viz-filters.png
minigrad viz filters "$RUN/best.npz" --layer conv2 --out $IMG/viz-filters-conv2.png
minigrad viz activations "$RUN/best.npz" 'test[8000:]:1' $D --out $IMG/viz-activations.png
minigrad viz activations "$RUN/best.npz" 'test[8000:]:1' --layer fc1 $D --out $IMG/viz-activations-fc1.png
minigrad viz saliency "$RUN/best.npz" 'test[8000:]:1' $D --out $IMG/viz-saliency.png
minigrad viz occlusion "$RUN/best.npz" 'test[8000:]:1' --patch 6 --stride 2 $D --out $IMG/viz-occlusion.png
minigrad viz deconvnet "$RUN/best.npz" 'test[8000:]:1' --layer conv2 --unit 3 $D --out $IMG/viz-deconvnet.png
minigrad viz dream "$RUN/best.npz" 'test[8000:]:1' --layer conv2 $D --out $IMG/viz-dream.png
minigrad viz embed "$RUN/best.npz" --n 1000 $D --out $IMG/viz-tsne.png
minigrad viz neighbors "$RUN/best.npz" $D --out $IMG/viz-neighbors.png
minigrad viz patches "$RUN/best.npz" --layer conv2 $D --out $IMG/viz-patches.png
minigrad summary --compare --chart $IMG/model-cost.png > /dev/null
# A small U-Net on synth-shapes, then the mask of one test scene beside the scene.
python - <<'PY'
from PIL import Image
import numpy as np
from minigrad.data import load_dataset
from minigrad.train import TrainConfig, fit
fit(TrainConfig(model="unet", dataset="synth-shapes", epochs=6, limit=600, test_limit=100, batch_size=16,
                model_kwargs={"depth": 3, "base_channels": 8}, out_dir="/tmp/unet-shapes"), overwrite=True, verbose=False)
scene = load_dataset("synth-shapes", "test", limit=1).images[0]
Image.fromarray(np.transpose(scene, (1, 2, 0))).save("/tmp/unet-shapes/scene.png")
PY
minigrad predict /tmp/unet-shapes/best.npz /tmp/unet-shapes/scene.png --out /tmp/unet-shapes
cp /tmp/unet-shapes/scene-mask-view.png $IMG/unet-mask.png
