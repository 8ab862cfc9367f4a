"""InputDigests: the digest of every input image an evaluation read, in dataset order."""
import numpy as np
import torch

from mixskd_mm.evaluation.metrics.input_digests import InputDigests, image_digest, load_digests


def test_digest_tells_images_apart_by_any_byte_shape_or_dtype():
    image = torch.arange(48, dtype=torch.uint8).reshape(3, 4, 4)
    same = image.clone()
    moved = image.clone()
    moved[2, 3, 3] += 1
    assert image_digest(image) == image_digest(same)
    assert len({image_digest(image), image_digest(moved), image_digest(image.reshape(3, 2, 8)),
                image_digest(image.to(torch.int16))}) == 4


def test_metric_writes_every_input_in_order(tmp_path):
    images = [torch.full((3, 2, 2), i, dtype=torch.uint8) for i in range(5)]
    metric = InputDigests(out_file=str(tmp_path / 'd.npz'))
    metric.process(dict(inputs=images[:3]), [{}] * 3)
    metric.process(dict(inputs=torch.stack(images[3:])), [{}] * 2)  # a stacked batch too
    assert metric.evaluate(5) == {'inputs/images': 5.0}
    digests = load_digests(str(tmp_path / 'd.npz'))
    assert digests.dtype == np.uint64
    assert digests.tolist() == [image_digest(i) for i in images]
