"""ImageNet-style folders: an ImageFolder tree or an annotation file of ``path label`` lines."""
import difflib
import io
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Optional, Union

import numpy as np
import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_image

from mixskd_mm.registry import DATASETS

from ._base import BaseClsDataset

IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png', '.webp', '.bmp', '.tif', '.tiff', '.gif')
"""The image suffixes a folder scan accepts by default (compared case-insensitively); all are read by
:meth:`ImageNet.load_image`."""

_LAYOUT = """expected either an ImageFolder tree
    {split_dir}/<class_name>/<image>.JPEG|jpg|png|...     (classes = sorted folder names of the training split)
or an annotation file (ann_file) of lines 'relative/path.JPEG <int label>', paths relative to {split_dir}.
ImageNet-1k is at https://image-net.org/download.php (login required; this package never downloads data)."""

_MAX_LISTED = 20  # class names / folders quoted in one error message


def _read_class_file(path: str) -> list[str]:
    """Read one class name per non-empty line."""
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


def _quote_some(names: Sequence[str]) -> str:
    """Quote the first ``_MAX_LISTED`` names, and say how many there are when that is not all of them."""
    shown = ', '.join(repr(name) for name in names[:_MAX_LISTED])
    return shown if len(names) <= _MAX_LISTED else f'{shown}, ... ({len(names)} in all)'


def _normalise_extensions(extensions: Union[str, Sequence[str]]) -> tuple[str, ...]:
    """Lower-case suffixes, each with its leading dot (``'jpg'`` and ``'.JPG'`` both give ``'.jpg'``)."""
    if isinstance(extensions, str):
        extensions = (extensions,)
    return tuple(ext.lower() if ext.startswith('.') else '.' + ext.lower() for ext in extensions)


def _images_below(folder: str, extensions: tuple[str, ...], first_only: bool) -> list[str]:
    """Image paths below ``folder`` at any depth, in sorted walk order (or just the first one)."""
    found: list[str] = []
    for root, subdirs, files in os.walk(folder):
        subdirs.sort()
        found += [os.path.join(root, file) for file in sorted(files) if file.lower().endswith(extensions)]
        if first_only and found:
            return found[:1]
    return found


def _scan(split_dir: str, classes: Optional[Sequence[str]], extensions: Union[str, Sequence[str]],
          first_only: bool) -> tuple[list[str], list[tuple[str, int]]]:
    """:func:`scan_class_folders`; with ``first_only`` only one image per class folder is listed (enough to check)."""
    extensions = _normalise_extensions(extensions)
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(f'Split folder not found: {split_dir}\n' + _LAYOUT.format(split_dir=split_dir))
    folders = sorted(entry.name for entry in os.scandir(split_dir)
                     if entry.is_dir() and not entry.name.startswith('.'))
    names = folders if classes is None else list(classes)
    label_of = {name: label for label, name in enumerate(names)}
    if classes is not None:
        repeated = sorted(name for name, count in Counter(names).items() if count > 1)
        if repeated:
            raise ValueError(f'The class list repeats {_quote_some(repeated)}: every class name must be unique')
        unknown = [folder for folder in folders if folder not in label_of]
        if unknown:
            by_lower = {name.lower(): name for name in names}
            close = difflib.get_close_matches(unknown[0].lower(), list(by_lower), n=1)
            hint = f' (did you mean {by_lower[close[0]]!r}?)' if close else ''
            others = f' ({len(unknown) - 1} more unknown: {_quote_some(unknown[1:])})' if len(unknown) > 1 else ''
            raise ValueError(
                f'Class folder {os.path.join(split_dir, unknown[0])} in split folder {split_dir} is not a known class: '
                f'the training split has no class {unknown[0]!r}{hint}{others}. Known classes ({len(names)}): '
                f'{_quote_some(names)}. Remove or rename the folder, or add the class to the training split.')
    samples: list[tuple[str, int]] = []
    empty: list[str] = []
    for label, name in sorted((label_of[folder], folder) for folder in folders):
        images = _images_below(os.path.join(split_dir, name), extensions, first_only)
        if not images:
            empty.append(os.path.join(split_dir, name))
        samples += [(path, label) for path in images]
    if not samples:
        raise FileNotFoundError(f'No image ({", ".join(extensions)}) found under {split_dir}\n'
                                + _LAYOUT.format(split_dir=split_dir))
    if empty:
        which = f'Class folder {empty[0]} holds' if len(empty) == 1 else f'Class folders {_quote_some(empty)} hold'
        raise ValueError(f'{which} no image file ({", ".join(extensions)}) at any depth, so it would be a class '
                         'without samples. Remove the folder, or add images to it.')
    return names, samples


def scan_class_folders(split_dir: str, classes: Optional[Sequence[str]] = None,
                       extensions: Sequence[str] = IMAGE_EXTENSIONS) -> tuple[list[str], list[tuple[str, int]]]:
    """List the classes and images of an ImageFolder split, ``{split_dir}/<class_name>/<images at any depth>``.

    Without ``classes`` the classes are the sorted names of the sub-folders of ``split_dir`` (hidden ones, whose
    name starts with ``.``, are ignored): this is how the training split defines them. Pass the training split's
    list as ``classes`` to scan any other split with the same numbering: a class folder is labelled with the index
    of its name in ``classes``, so a split lacking some classes keeps the training labels of the others.

    Args:
        split_dir: The split folder, for example ``data/imagenet/val``.
        classes: The class names, label ``i`` being ``classes[i]``; ``None`` takes the sorted sub-folder names.
        extensions: Image file suffixes to list (case-insensitive; other files are ignored).

    Returns:
        ``(class_names, samples)``: the class list (``classes`` itself when given) and ``(path, label)`` pairs sorted
        by label, then by path in walk order (a folder's own files before its sorted sub-folders).

    Raises:
        FileNotFoundError: if ``split_dir`` is not a folder or holds no image at all.
        ValueError: if a class folder is not in ``classes`` (the training split has no such class), if ``classes``
            repeats a name, or if a class folder holds no image file (a class with no sample).

    Example:
        >>> names, samples = scan_class_folders('data/imagenet/train')  # doctest: +SKIP
        >>> _, val_samples = scan_class_folders('data/imagenet/val', classes=names)  # doctest: +SKIP
    """
    return _scan(split_dir, classes, extensions, first_only=False)


def _starts_like_torchvision_format(data: bytes) -> bool:
    """Whether ``data`` starts like a JPEG, PNG or WebP file, the formats left to ``torchvision.io.decode_image``."""
    is_webp = data[:4] == b'RIFF' and data[8:12] == b'WEBP'
    return data[:3] == b'\xff\xd8\xff' or data[:8] == b'\x89PNG\r\n\x1a\n' or is_webp


def _decode_with_pil(data: bytes) -> torch.Tensor:
    """Decode the first frame of an image file with PIL as RGB uint8 ``Tensor[3, H, W]``."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode.startswith('I;16'):  # PIL's convert('RGB') clips 16-bit grey at 255: keep the high byte
            grey = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
            array = np.repeat(grey[:, :, None], 3, axis=2)
        else:
            array = np.array(image.convert('RGB'))
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _decode_rgb(data: bytes) -> torch.Tensor:
    """Decode an image file's bytes as RGB uint8 ``Tensor[3, H, W]`` (see :meth:`ImageNet.load_image`)."""
    if not _starts_like_torchvision_format(data):
        return _decode_with_pil(data)
    image = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
    if image.dtype == torch.uint16:  # 16-bit PNG: torchvision keeps all 16 bits
        image = (image.to(torch.int32) >> 8).to(torch.uint8)
    return image


def annotation_lines(path: str) -> Iterator[tuple[int, str, str]]:
    """``(line number, relative path, label field)`` of every non-empty line of a ``relative/path label`` annotation
    file (paths may contain spaces: the label is the last field).

    Raises:
        ValueError: a line that is not of that form, naming the file and the line.
    """
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.strip().rsplit(maxsplit=1)
            if len(fields) != 2:
                raise ValueError(f"{path}:{number}: expected 'relative/path label', got {line.strip()!r}")
            yield number, fields[0], fields[1]


@DATASETS.register_module()
class ImageNet(BaseClsDataset):
    """An ImageNet-style classification dataset read from image files.

    With ``ann_file=None`` the split folder is an ImageFolder tree: every sub-folder is a class and every image below
    it, at any depth, a sample (see :func:`scan_class_folders`). The class list, and so the label of each class, is
    the training split's for every split: ``classes`` if given, else the sorted sub-folders of ``{data_root}/train``
    when that folder exists, else (``split='train'`` or no training folder) those of the split itself. A split
    lacking some classes therefore keeps the training labels, and ``num_classes`` is always the training split's; a
    class folder the training split lacks, or one holding no image, is refused. With ``ann_file``, each line is
    ``relative/path.JPEG label`` with the path relative to ``{data_root}/{split}``.

    Images are decoded as RGB uint8 ``Tensor[3, H, W]`` whatever their mode (see :meth:`load_image`: grey, palette,
    CMYK and 16-bit files are converted, alpha is dropped). A missing, unreadable or corrupt image raises an error
    that names the file rather than being skipped or replaced: skipping silently would change the dataset (and the
    epoch length) without anyone noticing.

    Args:
        data_root: The dataset folder, for example ``data/imagenet``.
        split: Sub-folder of ``data_root`` with the images (``'train'`` or ``'val'``).
        ann_file: Optional annotation file; relative paths are taken relative to ``data_root``.
        pipeline: Transform configs (for example ``RandomResizedCrop`` then ``RandomHorizontalFlip``).
        classes: Class names, or a text file with one name per line (relative to ``data_root``). For a folder tree
            they map class folders to labels by name (and make the training split's scan unnecessary); with
            ``ann_file`` they name labels ``0 ..``, which without them are named ``'0' .. str(max label)``.
        extensions: Image file suffixes the folder scan accepts (case-insensitive).

    Raises:
        FileNotFoundError: if the split folder or ``ann_file`` is missing, or the tree holds no image.
        ValueError: if a class folder is not a training class or holds no image, or ``classes`` are too few for
            ``ann_file``'s labels.

    Example:
        >>> ds = ImageNet('data/imagenet', split='val', pipeline=[dict(type='Resize', size=256),
        ...                                                      dict(type='CenterCrop', size=224)])  # doctest: +SKIP
        >>> ds[0]['inputs'].shape  # doctest: +SKIP
        torch.Size([3, 224, 224])
    """

    def __init__(self, data_root: str, split: str = 'train', ann_file: Optional[str] = None,
                 pipeline: Optional[Sequence[dict]] = None, classes: Union[None, str, Sequence[str]] = None,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS) -> None:
        self.split_dir = os.path.join(data_root, split)
        if not os.path.isdir(self.split_dir):
            raise FileNotFoundError(f'ImageNet split folder not found: {self.split_dir}\n'
                                    + _LAYOUT.format(split_dir=self.split_dir))
        if isinstance(classes, str):
            classes = _read_class_file(os.path.join(data_root, classes))
        if ann_file is None:
            train_dir = os.path.join(data_root, 'train')
            is_train = os.path.normpath(self.split_dir) == os.path.normpath(train_dir)
            if classes is None and not is_train and os.path.isdir(train_dir):
                classes = self._training_classes(train_dir, extensions)
            names, samples = scan_class_folders(self.split_dir, classes, extensions)
        else:
            samples = self._read_ann_file(os.path.join(data_root, ann_file))
            names = [str(i) for i in range(max(label for _, label in samples) + 1)]
            if classes is not None:
                if len(classes) < len(names):
                    raise ValueError(f'{len(classes)} class names given for {len(names)} classes in {self.split_dir}')
                names = list(classes)
        super().__init__(classes=names, pipeline=pipeline, split=split)
        self.paths = [path for path, _ in samples]
        self.labels = [label for _, label in samples]

    def _training_classes(self, train_dir: str, extensions: Sequence[str]) -> list[str]:
        """The training split's classes (its sorted class folders, each checked to hold an image)."""
        try:
            return _scan(train_dir, None, extensions, first_only=True)[0]
        except (FileNotFoundError, ValueError) as err:
            raise type(err)(f'{err}\n(The training split {train_dir} gives the class list of split folder '
                            f'{self.split_dir}; pass classes= to name them instead.)') from err

    def _read_ann_file(self, ann_path: str) -> list[tuple[str, int]]:
        """Parse ``relative/path label`` lines (paths may contain spaces; the label is the last field)."""
        if not os.path.isfile(ann_path):
            raise FileNotFoundError(f'ImageNet annotation file not found: {ann_path}\n'
                                    + _LAYOUT.format(split_dir=self.split_dir))
        samples = []
        for number, path, label in annotation_lines(ann_path):
            if not label.isdigit():
                raise ValueError(f"{ann_path}:{number}: expected 'relative/path label' with a label index >= 0, "
                                 f'got label {label!r}')
            samples.append((os.path.join(self.split_dir, path), int(label)))
        if not samples:
            raise FileNotFoundError(f'Annotation file {ann_path} lists no image')
        return samples

    def load_image(self, index: int) -> torch.Tensor:
        """Decode image ``index`` as RGB uint8 ``Tensor[3, H, W]``, whatever its mode.

        JPEG, PNG and WebP files are decoded by ``torchvision.io.decode_image(mode=ImageReadMode.RGB)``, with no
        fallback, so that a corrupt or truncated one raises. Grey is repeated over the three channels, palette images
        take their palette colours (a transparent entry keeps its colour), CMYK is converted, 16-bit samples keep
        their high byte, and alpha is dropped, not composited: a transparent pixel keeps the colour stored under it,
        as with PIL's ``convert('RGB')``. Other files (GIF, BMP, TIFF, ...) are read by PIL: the first frame,
        ``convert('RGB')``, except that 16-bit grey keeps its high byte (``convert`` would clip it at 255).

        Args:
            index: Sample index.

        Returns:
            The image.

        Raises:
            FileNotFoundError: if the file does not exist.
            RuntimeError: if it cannot be read or decoded (the message names the file).
        """
        return read_rgb(self.paths[index])


def read_rgb(path: str) -> torch.Tensor:
    """The image file ``path`` as RGB uint8 ``Tensor[3, H, W]``, by :meth:`ImageNet.load_image`'s decoding rules.

    Raises:
        FileNotFoundError: if the file does not exist; RuntimeError: if it cannot be decoded (naming the file).
    """
    try:
        with open(path, 'rb') as f:
            return _decode_rgb(f.read())
    except FileNotFoundError as err:
        raise FileNotFoundError(f'ImageNet image not found: {path}') from err
    except (RuntimeError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise RuntimeError(f'Cannot decode image {path}: {err}') from err
