"""ImageNet-style folders: an ImageFolder tree or an annotation file of ``path label`` lines."""
import os
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torchvision.io import ImageReadMode, decode_image

from mixskd_mm.registry import DATASETS

from ._base import BaseClsDataset

_LAYOUT = """expected either an ImageFolder tree
    {split_dir}/<class_name>/<image>.JPEG|jpg|png     (classes = sorted folder names)
or an annotation file (ann_file) of lines 'relative/path.JPEG <int label>', paths relative to {split_dir}.
ImageNet-1k is at https://image-net.org/download.php (login required; this package never downloads data)."""


def _read_class_file(path: str) -> List[str]:
    """Read one class name per non-empty line."""
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


@DATASETS.register_module()
class ImageNet(BaseClsDataset):
    """An ImageNet-style classification dataset read from image files.

    With ``ann_file=None`` the split folder is an ImageFolder tree: every sub-folder is a class (sorted names give
    the label order) and every image below it, at any depth, a sample. With ``ann_file``, each line is
    ``relative/path.JPEG label`` with the path relative to ``{data_root}/{split}``.

    Images are decoded with ``torchvision.io.decode_image`` as RGB uint8 ``Tensor[3, H, W]`` (grey and CMYK files are
    converted). A missing, unreadable or corrupt image raises an error that names the file rather than being skipped
    or replaced: skipping silently would change the dataset (and the epoch length) without anyone noticing.

    Args:
        data_root: The dataset folder, for example ``data/imagenet``.
        split: Sub-folder of ``data_root`` with the images (``'train'`` or ``'val'``).
        ann_file: Optional annotation file; relative paths are taken relative to ``data_root``.
        pipeline: Transform configs (for example ``RandomResizedCrop`` then ``RandomHorizontalFlip``).
        classes: Class names, or a text file with one name per line (relative to ``data_root``). Only needed with
            ``ann_file``; without it classes are named ``'0' .. str(max label)``.
        extensions: Image file suffixes the folder scan accepts (case-insensitive).

    Raises:
        FileNotFoundError: if the split folder or ``ann_file`` is missing, or the tree holds no image.

    Example:
        >>> ds = ImageNet('data/imagenet', split='val', pipeline=[dict(type='Resize', size=256),
        ...                                                      dict(type='CenterCrop', size=224)])  # doctest: +SKIP
        >>> ds[0]['inputs'].shape  # doctest: +SKIP
        torch.Size([3, 224, 224])
    """

    def __init__(self, data_root: str, split: str = 'train', ann_file: Optional[str] = None,
                 pipeline: Optional[Sequence[dict]] = None, classes: Union[None, str, Sequence[str]] = None,
                 extensions: Sequence[str] = ('.jpeg', '.jpg', '.png')) -> None:
        self.split_dir = os.path.join(data_root, split)
        if not os.path.isdir(self.split_dir):
            raise FileNotFoundError(f'ImageNet split folder not found: {self.split_dir}\n'
                                    + _LAYOUT.format(split_dir=self.split_dir))
        if isinstance(classes, str):
            classes = _read_class_file(os.path.join(data_root, classes))
        if ann_file is None:
            names, samples = self._scan_folder(tuple(ext.lower() for ext in extensions))
        else:
            samples = self._read_ann_file(os.path.join(data_root, ann_file))
            names = [str(i) for i in range(max(label for _, label in samples) + 1)]
        if classes is not None:
            if len(classes) < len(names) or (ann_file is None and len(classes) != len(names)):
                raise ValueError(f'{len(classes)} class names given for {len(names)} classes in {self.split_dir}')
            names = list(classes)
        super().__init__(classes=names, pipeline=pipeline, split=split)
        self.paths = [path for path, _ in samples]
        self.labels = [label for _, label in samples]

    def _scan_folder(self, extensions: Tuple[str, ...]) -> Tuple[List[str], List[Tuple[str, int]]]:
        """Find class folders and their images, both in sorted order."""
        names = sorted(entry.name for entry in os.scandir(self.split_dir)
                       if entry.is_dir() and not entry.name.startswith('.'))
        samples = []
        for label, name in enumerate(names):
            for folder, subdirs, files in os.walk(os.path.join(self.split_dir, name)):
                subdirs.sort()
                samples += [(os.path.join(folder, file), label) for file in sorted(files)
                            if file.lower().endswith(extensions)]
        if not samples:
            raise FileNotFoundError(f'No image ({", ".join(extensions)}) found under {self.split_dir}\n'
                                    + _LAYOUT.format(split_dir=self.split_dir))
        return names, samples

    def _read_ann_file(self, ann_path: str) -> List[Tuple[str, int]]:
        """Parse ``relative/path label`` lines (paths may contain spaces; the label is the last field)."""
        if not os.path.isfile(ann_path):
            raise FileNotFoundError(f'ImageNet annotation file not found: {ann_path}\n'
                                    + _LAYOUT.format(split_dir=self.split_dir))
        samples = []
        with open(ann_path, encoding='utf-8') as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                fields = line.strip().rsplit(maxsplit=1)
                if len(fields) != 2 or not fields[1].lstrip('-').isdigit() or int(fields[1]) < 0:
                    raise ValueError(f"{ann_path}:{number}: expected 'relative/path label', got {line.strip()!r}")
                samples.append((os.path.join(self.split_dir, fields[0]), int(fields[1])))
        if not samples:
            raise FileNotFoundError(f'Annotation file {ann_path} lists no image')
        return samples

    def load_image(self, index: int) -> torch.Tensor:
        """Decode image ``index`` as RGB uint8 ``Tensor[3, H, W]``.

        Args:
            index: Sample index.

        Returns:
            The image.

        Raises:
            FileNotFoundError: if the file does not exist.
            RuntimeError: if it cannot be read or decoded (the message names the file).
        """
        path = self.paths[index]
        try:
            return decode_image(path, mode=ImageReadMode.RGB)
        except (RuntimeError, OSError, ValueError) as err:
            if not os.path.isfile(path):
                raise FileNotFoundError(f'ImageNet image not found: {path}') from err
            raise RuntimeError(f'Cannot decode image {path}: {err}') from err
