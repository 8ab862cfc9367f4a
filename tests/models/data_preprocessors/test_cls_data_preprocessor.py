import pytest
import torch
from mmengine.registry import init_default_scope

from mixskd_mm.registry import MODELS


def _build(**kwargs):
    init_default_scope('mixskd_mm')
    return MODELS.build(dict(type='ClsDataPreprocessor', **kwargs))


def _image(values):
    """A [3, 1, 2] uint8 image whose channel c holds values[c] (a pair of pixels)."""
    return torch.tensor(values, dtype=torch.uint8).view(3, 1, 2)


def test_normalisation_by_hand():
    pre = _build(mean=[100.0, 50.0, 0.0], std=[2.0, 5.0, 255.0])
    batch = dict(inputs=[_image([[0, 255], [50, 100], [0, 51]]), _image([[100, 102], [0, 60], [255, 255]])],
                 data_samples=[4, 1])
    out = pre(batch)
    assert out['inputs'].dtype == torch.float32 and out['inputs'].shape == (2, 3, 1, 2)
    # (x - mean) / std, channel by channel: (0-100)/2=-50, (255-100)/2=77.5, (50-50)/5=0, (100-50)/5=10, 0, 51/255=0.2
    expected = torch.tensor([[[[-50.0, 77.5]], [[0.0, 10.0]], [[0.0, 0.2]]],
                             [[[0.0, 1.0]], [[-10.0, 2.0]], [[1.0, 1.0]]]])
    torch.testing.assert_close(out['inputs'], expected)
    assert out['data_samples'].dtype == torch.long and out['data_samples'].tolist() == [4, 1]


def test_grayscale_and_channel_mismatch():
    pre = _build(mean=[127.5], std=[127.5])
    out = pre(dict(inputs=[torch.tensor([[[0, 255]]], dtype=torch.uint8)], data_samples=[0]))
    assert out['inputs'].flatten().tolist() == [-1.0, 1.0]
    with pytest.raises(ValueError, match='3 channels but mean/std have 1 values'):
        pre(dict(inputs=[torch.zeros(3, 2, 2, dtype=torch.uint8)], data_samples=[0]))


def test_no_normalisation_to_rgb_and_stacked_inputs():
    image = _image([[1, 2], [3, 4], [5, 6]])
    out = _build(to_rgb=True)(dict(inputs=image[None], data_samples=torch.tensor([2])))
    assert out['inputs'][0, :, 0, 0].tolist() == [5.0, 3.0, 1.0]
    with pytest.raises(ValueError, match='to_rgb needs 3-channel'):
        _build(to_rgb=True)(dict(inputs=[torch.zeros(1, 2, 2)], data_samples=[0]))


def test_channels_last():
    out = _build(mean=[0, 0, 0], std=[1, 1, 1], channels_last=True)(
        dict(inputs=[torch.zeros(3, 4, 5, dtype=torch.uint8)] * 2, data_samples=[0, 1]))
    assert out['inputs'].is_contiguous(memory_format=torch.channels_last)
    assert not _build()(dict(inputs=[torch.zeros(3, 4, 5)] * 2, data_samples=[0, 1]))['inputs'].is_contiguous(
        memory_format=torch.channels_last)


def test_label_forms():
    pre = _build()
    images = [torch.zeros(3, 2, 2, dtype=torch.uint8)] * 3
    for labels in ([1, 2, 3], torch.tensor([1, 2, 3]), [torch.tensor(1), torch.tensor(2), torch.tensor([3])]):
        assert pre(dict(inputs=images, data_samples=labels))['data_samples'].tolist() == [1, 2, 3]
    assert pre(dict(inputs=images))['data_samples'] is None
    with pytest.raises(ValueError, match='2 labels for 3 images'):
        pre(dict(inputs=images, data_samples=[1, 2]))


def test_bad_inputs_and_arguments():
    with pytest.raises(ValueError, match='one size'):
        _build()(dict(inputs=[torch.zeros(3, 2, 2), torch.zeros(3, 2, 3)], data_samples=[0, 1]))
    with pytest.raises(ValueError, match='both mean and std'):
        _build(mean=[1.0])
    with pytest.raises(ValueError, match='std has 2'):
        _build(mean=[1.0], std=[1.0, 2.0])


def test_statistics_stay_out_of_the_state_dict():
    pre = _build(mean=[1.0, 2.0, 3.0], std=[1.0, 1.0, 1.0])
    assert pre.state_dict() == {}
    assert set(dict(pre.named_buffers())) == {'mean', 'std'}  # buffers: they follow the model to its device
