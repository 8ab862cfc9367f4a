"""Images that appear in more than one split of a comparison: copied files, and re-saved files with the same pixels.

A validation or test image that is a copy of a training image is scored on a picture the network was trained on: its
accuracy is inflated, and nothing else in the numbers shows it. :func:`find_duplicates` pairs every validation and
test image with an image of an *earlier* split (train before val before test) that the runs would read as the same
picture:

- ``'file'``: the same file bytes (a copied file, or one file listed in two splits);
- ``'pixels'``: other bytes, but the same RGB pixels once decoded as the runs decode them (a lossless re-export, a PNG
  saved with other settings, a JPEG with its metadata stripped, a grey image saved as RGB).

Both are exact: two different pictures are never reported. Look-alikes (a re-compressed or resized copy) are not
looked for: a perceptual hash (a 64-bit difference hash) put 28 % of the embedded Fashion-MNIST test images within 4
bits of a different training image, while JPEG re-exports of training images differed by up to 14 bits, so no
threshold separates them on small images. Duplicates within one split are not looked for either: they do not mix
training and evaluation.
"""
from __future__ import annotations

import hashlib
import os
import os.path as osp
import warnings
from collections import Counter
from collections.abc import Sequence

from mixskd_mm.utils.atomic_io import atomic_write_bytes

from .sources import SPLITS, DataError, Samples

__all__ = ['EXAMPLES', 'Match', 'check_splits', 'digests', 'drop_matches', 'find_duplicates', 'match_lines',
           'shown_name']

#: how many matches a warning names
EXAMPLES = 5

#: ``(split, path, earlier split, earlier path, kind)``: an image, the image of an earlier split it duplicates, and
#: ``'file'`` (same bytes) or ``'pixels'`` (same decoded pixels)
Match = tuple[str, str, str, str, str]


def digests(path: str) -> tuple[str, str]:
    """The BLAKE2b digests (hex) of an image file's bytes and of its size and RGB pixels, decoded as the runs decode
    it (:meth:`mixskd_mm.datasets.ImageNet.load_image`: grey repeated, alpha dropped, 16-bit samples keeping their high
    byte).

    Args:
        path: An image file.

    Returns:
        ``(pixels, bytes)``: two files have the same pixel digest when the runs read the same picture from them.
    """
    from mixskd_mm.datasets.imagenet import _decode_rgb
    with open(path, 'rb') as f:
        data = f.read()
    image = _decode_rgb(data).contiguous()
    pixels = hashlib.blake2b(str(tuple(image.shape)).encode(), digest_size=20)
    pixels.update(image.numpy().tobytes())
    return pixels.hexdigest(), hashlib.blake2b(data, digest_size=20).hexdigest()


def find_duplicates(splits: dict[str, Samples]) -> list[Match]:
    """Pair every validation and test image with an image of an earlier split that is the same picture.

    Args:
        splits: ``{split: [(path, label), ...]}`` for the splits present (``train``, ``val``, ``test``); the images
            must decode (:func:`~mixskd_mm.compare.data.inspect_images` checks that first).

    Returns:
        The matches in split order, then sample order; each is matched with the first image of the earliest split
        holding its picture. Empty when no picture is in two splits.

    Example:
        >>> find_duplicates({'train': [('a.png', 0)], 'test': [('copy of a.png', 0)]})  # doctest: +SKIP
        [('test', 'copy of a.png', 'train', 'a.png', 'file')]
    """
    first: dict[str, tuple[str, str, str]] = {}  # pixel digest -> (split, path, file digest) in an earlier split
    found: list[Match] = []
    for split in [s for s in SPLITS if s in splits]:
        mine: dict[str, tuple[str, str, str]] = {}
        for path, _ in splits[split]:
            pixels, data = digests(path)
            if pixels in first:
                other_split, other_path, other_data = first[pixels]
                found.append((split, path, other_split, other_path, 'file' if data == other_data else 'pixels'))
            else:
                mine.setdefault(pixels, (split, path, data))
        for pixels, where in mine.items():
            first.setdefault(pixels, where)
    return found


def drop_matches(splits: dict[str, Samples], matches: Sequence[Match]) -> None:
    """Remove, in place, every image of ``matches`` (validation and test images) from its split.

    Args:
        splits: ``{split: samples}``, changed in place.
        matches: :func:`find_duplicates`.
    """
    drop: dict[str, set] = {}
    for split, path, *_ in matches:
        drop.setdefault(split, set()).add(path)
    for split, paths in drop.items():
        splits[split] = [s for s in splits[split] if s[0] not in paths]


def shown_name(split: str, path: str, root: str) -> str:
    """A short name of an image for messages: its path under ``root``, prefixed with ``split:`` unless that path
    starts with the split's folder (``test/cat/a.png``, ``val:cat/a.png``)."""
    relative = osp.relpath(path, root)
    return relative if relative.split(os.sep)[0] == split else f'{split}:{relative}'


def match_lines(matches: Sequence[Match], root: str) -> list[str]:
    """``'test/cat/a.png = train/cat/a_copy.png'`` per match, ending in ``' (same pixels)'`` for another file."""
    return [f'{shown_name(split, path, root)} = {shown_name(other_split, other_path, root)}'
            + ('' if kind == 'file' else ' (same pixels)') for split, path, other_split, other_path, kind in matches]


def check_splits(splits: dict[str, Samples], folder: str, drop: bool = False) -> tuple[dict, str | None]:
    """Find the pictures that are in two splits, drop them from validation and test if asked, and warn.

    Every match is listed in ``folder/duplicates.txt`` (tab-separated: split, path, earlier split, its path, kind);
    without matches nothing is written, warned or noted.

    Args:
        splits: The final ``{split: samples}``; with ``drop``, changed in place.
        folder: The comparison's data folder.
        drop: Remove the matched validation and test images (``--drop-duplicates``).

    Returns:
        ``(record, note)``: ``record`` for ``data.json`` (``count``; with matches also ``per_split``, ``same_pixels``,
        ``examples``, ``dropped``, ``list``, the listing's path, and ``message``, the warning), and the warning's text
        for the report's notes (``None`` without matches).

    Raises:
        DataError: if dropping would leave a split without images.
    """
    matches = find_duplicates(splits)
    listing = osp.join(folder, 'duplicates.txt')
    if not matches:
        if osp.isfile(listing):
            os.remove(listing)
        return dict(count=0), None
    atomic_write_bytes(''.join('\t'.join(m) + '\n' for m in matches).encode('utf-8'), listing)
    root = osp.commonpath([osp.abspath(p) for samples in splits.values() for p, _ in samples])
    per_split = dict(Counter(m[0] for m in matches))  # in split order, as the matches are
    examples = match_lines(matches[:EXAMPLES], root)
    if drop:
        drop_matches(splits, matches)
        emptied = [split for split in per_split if not splits[split]]
        if emptied:
            raise DataError(f'every image of the {" and ".join(emptied)} split(s) is the same picture as an image of '
                            f'an earlier split (listed in {listing}), so --drop-duplicates leaves nothing to evaluate '
                            f'on: give other images there')
    same_pixels = sum(1 for m in matches if m[4] == 'pixels')
    where = ', '.join(f'{split} {count}' for split, count in per_split.items())
    kinds = f'; {same_pixels} of them the same pixels in another file' if same_pixels else ''
    outcome = ('They were dropped from validation and test (--drop-duplicates).' if drop else
               'Their scores are not independent of training and model selection: they inflate the accuracy. '
               '--drop-duplicates (with a new --out) drops them.')
    note = (f'{len(matches)} validation/test image(s) are the same picture as an image of an earlier split ({where}'
            f'{kinds}): ' + ', '.join(examples) + (', ...' if len(matches) > EXAMPLES else '')
            + f' (all in {listing}). {outcome}')
    warnings.warn(note, stacklevel=1)  # the note names the images and the files; the caller's line would not help
    return dict(count=len(matches), per_split=per_split, same_pixels=same_pixels, examples=examples, dropped=drop,
                list=listing, message=note), note
