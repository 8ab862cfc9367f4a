"""Grad-CAM maps of a deployable classifier (Selvaraju et al., ICCV 2017, arXiv 1610.02391), with the ``grad-cam``
package's ``pytorch_grad_cam.GradCAM``.

The map of class ``c`` weighs each channel ``k`` of the last stage's feature map ``A`` by the spatial mean of the
gradient of the logit ``y_c`` with respect to it, ``a_k = mean_ij dy_c / dA_kij``, and keeps the positive part of
``sum_k a_k A_k``; the package resizes it to the input and scales it to [0, 1]. The class is the model's
prediction unless another is asked for.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .deployable import Deployable


@dataclass(frozen=True)
class CamMap:
    """One image's Grad-CAM map.

    Attributes:
        image: The image the model saw, ``(H, W, 3)`` uint8 RGB (after the pipeline, before normalisation).
        cam: The map, ``(H, W)`` float32 in [0, 1].
        probs: The model's class probabilities, ``(C,)``.
        predicted: The predicted class.
        target: The class the map explains.
        cells: ``(rows, columns)`` of the last stage's feature map: the map's own resolution before it is resized to
            the image (at ``(1, 1)`` it has no spatial information; the package then draws it as zero).
    """

    image: np.ndarray
    cam: np.ndarray
    probs: np.ndarray
    predicted: int
    target: int
    cells: tuple[int, int]

    @property
    def peak(self) -> tuple[int, int]:
        """``(row, column)`` of the map's maximum (the first, in row-major order, on a tie)."""
        row, col = np.unravel_index(int(np.argmax(self.cam)), self.cam.shape)
        return int(row), int(col)

    def overlay(self, image_weight: float = 0.5) -> np.ndarray:
        """The map drawn over the image (``show_cam_on_image``, jet colours), ``(H, W, 3)`` uint8 RGB."""
        from pytorch_grad_cam.utils.image import show_cam_on_image
        return show_cam_on_image(self.image.astype(np.float32) / 255, self.cam, use_rgb=True,
                                 image_weight=image_weight)


def grad_cam(deployable: Deployable, images: Sequence[torch.Tensor], target_class: int | None = None) -> list[CamMap]:
    """Grad-CAM maps of ``images`` on the deployable model's last stage, one image at a time.

    Args:
        deployable: The model (:func:`~mixskd_mm.visualization.deployable.load_deployable`).
        images: RGB uint8 ``Tensor[3, H, W]`` images as read (the deployable's pipeline is applied here).
        target_class: Explain this class in every image; ``None``: each image's predicted class.

    Returns:
        One :class:`CamMap` per image.

    Raises:
        ValueError: a ``target_class`` outside the model's classes.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    cam = GradCAM(model=deployable.model, target_layers=[deployable.target_layer])
    out = []
    try:
        for image in images:
            shown, inputs = deployable.prepare(image)
            with torch.no_grad():
                logits = deployable.model(inputs)[0].float()
            if target_class is not None and not 0 <= target_class < logits.numel():
                raise ValueError(f'target class {target_class} is not one of the model\'s {logits.numel()} classes '
                                 f'(0..{logits.numel() - 1})')
            predicted = int(logits.argmax())
            target = predicted if target_class is None else target_class
            with torch.enable_grad():
                grey = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(target)])[0]
            rows, cols = cam.activations_and_grads.activations[0].shape[-2:]
            out.append(CamMap(shown.permute(1, 2, 0).numpy().copy(), grey.astype(np.float32),
                              torch.softmax(logits, 0).numpy(), predicted, target, (int(rows), int(cols))))
    finally:
        cam.activations_and_grads.release()  # the hooks it put on the layer
    return out
