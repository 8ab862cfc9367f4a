"""Normalise and batch classification images on the model's device."""
from collections.abc import Sequence
from typing import Optional, Union

import torch
from mmengine.model import BaseDataPreprocessor

from mixskd_mm.registry import MODELS

InputsType = Union[torch.Tensor, Sequence[torch.Tensor]]
LabelsType = Union[None, torch.Tensor, Sequence[Union[int, torch.Tensor]]]


@MODELS.register_module()
class ClsDataPreprocessor(BaseDataPreprocessor):
    """Stack images, move them to the model's device, normalise them and stack the labels.

    Input (what ``pseudo_collate`` makes of the dataset items): ``dict(inputs=list of uint8 Tensor[C, H, W] of one
    size, or Tensor[B, C, H, W], data_samples=list of int, or Tensor[B])``. Output:
    ``dict(inputs=float32 Tensor[B, C, H, W], data_samples=int64 Tensor[B])`` on the model's device; the image is
    ``(x - mean) / std`` per channel. The uint8 batch crosses to the device before the float conversion (a quarter of
    the bytes of a float batch).

    Args:
        mean: Per-channel mean on the 0-255 scale, one value per image channel, in the channel order after
            ``to_rgb`` (``None``: no normalisation, the batch is only converted to float).
        std: Per-channel standard deviation on the 0-255 scale (given together with ``mean``).
        to_rgb: Reverse the channel order (BGR <-> RGB) before normalising; needs 3-channel images. Datasets here
            already yield RGB, so leave it ``False`` for them.
        channels_last: Return the batch in ``torch.channels_last`` memory format, for the preprocessor used on its
            own. Inside mixskd_mm's ``ImageClassifier`` and ``MixSKD`` the model's ``channels_last`` decides the
            layout (weights and batches together) and refuses a preprocessor that sets this.
        non_blocking: Copy to the device asynchronously (useful with ``pin_memory=True``).

    Example:
        >>> pre = ClsDataPreprocessor(mean=[127.5], std=[127.5])
        >>> out = pre(dict(inputs=[torch.full((1, 2, 2), 255, dtype=torch.uint8)], data_samples=[3]))
        >>> out['inputs'].flatten().tolist(), out['data_samples'].tolist()
        ([1.0, 1.0, 1.0, 1.0], [3])
    """

    def __init__(self, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 to_rgb: bool = False, channels_last: bool = False, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if (mean is None) != (std is None):
            raise ValueError('ClsDataPreprocessor: give both mean and std, or neither')
        self.normalize = mean is not None
        if mean is not None and std is not None:  # self.normalize
            if len(mean) != len(std):
                raise ValueError(f'ClsDataPreprocessor: mean has {len(mean)} values but std has {len(std)}')
            if min(std) <= 0:
                raise ValueError(f'ClsDataPreprocessor: std must be positive, got {list(std)}')
            # Not persistent: the statistics are configuration, not weights, and stay out of checkpoints.
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), persistent=False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), persistent=False)
        self.to_rgb = to_rgb
        self.channels_last = channels_last

    @staticmethod
    def _stack_inputs(inputs: InputsType) -> torch.Tensor:
        """Return a ``[B, C, H, W]`` batch from a stacked tensor or a list of equal-size ``[C, H, W]`` tensors."""
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 4:
                raise ValueError(f'ClsDataPreprocessor: expected inputs [B, C, H, W], got shape {tuple(inputs.shape)}')
            return inputs
        if len(inputs) == 0:
            raise ValueError('ClsDataPreprocessor: empty batch')
        shapes = sorted({tuple(image.shape) for image in inputs})
        if len(shapes) != 1 or len(shapes[0]) != 3:
            raise ValueError(f'ClsDataPreprocessor: images must all be [C, H, W] of one size, got shapes {shapes}; '
                             'add a fixed-size Resize/CenterCrop/RandomResizedCrop to the dataset pipeline')
        return torch.stack(list(inputs))

    def _stack_labels(self, labels: LabelsType, batch_size: int) -> Optional[torch.Tensor]:
        """Return labels as int64 ``[B]`` on the device (``None`` stays ``None``, for label-free inference)."""
        if labels is None:
            return None
        if isinstance(labels, torch.Tensor):
            stacked = labels.reshape(-1)
        else:
            stacked = torch.as_tensor([int(label) for label in labels], dtype=torch.long)
        if stacked.numel() != batch_size:
            raise ValueError(f'ClsDataPreprocessor: {stacked.numel()} labels for {batch_size} images')
        return stacked.to(device=self.device, dtype=torch.long, non_blocking=self._non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Stack, move, normalise.

        Args:
            data: ``dict(inputs=..., data_samples=...)`` from the data loader.
            training: Unused: batch-level augmentation (Mixup and the like) belongs to the model here.

        Returns:
            ``dict(inputs=float32 Tensor[B, C, H, W], data_samples=int64 Tensor[B] or None)``.
        """
        inputs = self._stack_inputs(data['inputs'])
        inputs = inputs.to(self.device, non_blocking=self._non_blocking)
        channels = inputs.shape[1]
        if self.to_rgb:
            if channels != 3:
                raise ValueError(f'ClsDataPreprocessor: to_rgb needs 3-channel images, got {channels} channels')
            inputs = inputs.flip(1)
        inputs = inputs.float()
        if self.normalize:
            if channels != self.mean.numel():
                raise ValueError(f'ClsDataPreprocessor: images have {channels} channels but mean/std have '
                                 f'{self.mean.numel()} values; set mean/std per channel (or the dataset channels)')
            inputs = (inputs - self.mean) / self.std
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        labels = self._stack_labels(data.get('data_samples'), inputs.shape[0])
        return dict(inputs=inputs, data_samples=labels)
