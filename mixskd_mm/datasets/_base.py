"""The small base class every classification dataset here shares: the item format and the pipeline."""
from collections.abc import Sequence
from typing import Any, Optional, Union

import torch
from torch.utils.data import Dataset

from .transforms import build_pipeline


class BaseClsDataset(Dataset):
    """A map-style dataset yielding ``dict(inputs=Tensor[C, H, W] uint8, data_samples=int)``.

    Subclasses fill ``self.labels`` (one int per sample) and implement :meth:`load_image`. mmengine's
    ``pseudo_collate`` turns a batch of items into ``dict(inputs=list[Tensor], data_samples=list[int])`` for
    ``ClsDataPreprocessor``.

    Args:
        classes: Class names; their number is ``num_classes``.
        pipeline: Transform configs (see :func:`mixskd_mm.datasets.transforms.build_pipeline`).
        **meta: Extra ``metainfo`` entries (for example ``source``).

    Example:
        >>> class Ones(BaseClsDataset):
        ...     def load_image(self, index):
        ...         return torch.ones(3, 4, 4, dtype=torch.uint8)
        >>> ds = Ones(classes=('a', 'b'))
        >>> ds.labels = [0, 1]
        >>> ds[1]['data_samples'], ds.num_classes
        (1, 2)
    """

    def __init__(self, classes: Sequence[str], pipeline: Optional[Sequence[dict]] = None, **meta: object) -> None:
        super().__init__()
        self.metainfo: dict[str, Any] = dict(classes=tuple(classes), **meta)
        self.pipeline = build_pipeline(pipeline)
        self.labels: Union[Sequence[int], torch.Tensor] = []

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.metainfo['classes'])

    def __len__(self) -> int:
        """Number of samples."""
        return len(self.labels)

    def load_image(self, index: int) -> torch.Tensor:
        """Return sample ``index`` as a uint8 ``Tensor[C, H, W]`` before the pipeline.

        Args:
            index: Sample index.

        Returns:
            The image.
        """
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict:
        """Return ``dict(inputs=transformed uint8 image, data_samples=int label)``.

        Args:
            index: Sample index.

        Returns:
            The item.
        """
        return dict(inputs=self.pipeline(self.load_image(index)), data_samples=int(self.labels[index]))

    def __repr__(self) -> str:
        extra = ''.join(f', {key}={value}' for key, value in self.metainfo.items() if key != 'classes')
        return f'{type(self).__name__}(num_samples={len(self)}, num_classes={self.num_classes}{extra})'
