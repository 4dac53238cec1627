"""Visualization of what networks learned: the last chapter of the course, one module per method.

Each module computes NumPy arrays first and draws them with ``minigrad.viz.render`` (Pillow)
only at the end, so the numbers can be tested and reused:

- ``filters``: a convolution's kernels as a normalized grid (colour for RGB inputs).
- ``activations``: the feature maps of a named layer for one input (forward hooks).
- ``gradient``: ``d score_k / d x`` of one input; ``saliency``: ``max_c |d score_k / d x|``;
  ``guided``: guided backpropagation and the DeconvNet ReLU rule, swapped in for a ``with`` block.
- ``occlusion``: the drop of the class probability under a sliding patch.
- ``embed``: last hidden layer features reduced to 2-D by PCA or ``tsne`` (exact, Numba).
- ``neighbors``: nearest neighbours in feature space versus pixel space.
- ``patches``: the dataset patches, cropped at the receptive field, that excite a unit most.
- ``deconvnet``: one activation projected back to pixels (Zeiler & Fergus).
- ``dream``: DeepDream, gradient ascent on the image with octaves and jitter.
- ``curves``: training curves of a run.
- ``layers``: finding layers by name and capturing their outputs; ``source``: models from
  checkpoints and images for them.

Submodules are imported on use (``from minigrad.viz import saliency``), so ``import minigrad``
does not pay for Pillow or the t-SNE kernels.
"""
