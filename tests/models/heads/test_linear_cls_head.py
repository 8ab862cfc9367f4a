"""LinearClsHead: fc(global average pool(F)), on maps and on pooled features, computed by hand."""
import pytest
import torch

from mixskd_mm.models.heads import LinearClsHead, global_pool


def test_logits_are_the_linear_map_of_the_channel_means():
    torch.manual_seed(0)
    head = LinearClsHead(4, 3)
    maps = torch.randn(2, 4, 5, 6)
    with torch.no_grad():
        expected = maps.mean((2, 3)) @ head.fc.weight.T + head.fc.bias
        torch.testing.assert_close(head(maps), expected)
        torch.testing.assert_close(head(maps.mean((2, 3))), expected)  # already pooled features pass through
    assert (head.in_channels, head.num_classes) == (4, 3)


def test_global_pool_averages_every_position_once():
    x = torch.arange(8.0).reshape(1, 2, 2, 2)  # channel 0: 0..3, channel 1: 4..7
    assert global_pool(x).tolist() == [[1.5, 5.5]]


def test_no_classes_is_refused():
    with pytest.raises(ValueError, match='num_classes must be positive, got 0'):
        LinearClsHead(4, 0)
