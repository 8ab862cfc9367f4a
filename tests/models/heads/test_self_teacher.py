"""The self-teacher h(F_1..F_K) = fc(GAP(W * concat_k F_k)), bias-free 1x1 convolution, computed by hand."""
import pytest
import torch

from mixskd_mm.models.heads import SelfTeacher


def hand_self_teacher(teacher: SelfTeacher, maps) -> torch.Tensor:
    """The spec's order: concatenate the maps, 1x1 convolution (no bias), global average pool, linear."""
    cat = torch.cat(list(maps), dim=1)  # (B, K C, H, W)
    fused = torch.einsum('oc,bchw->bohw', teacher.fuse.weight[:, :, 0, 0], cat)
    return fused.mean((2, 3)) @ teacher.fc.weight.T + teacher.fc.bias


def test_no_bias_and_the_released_parameter_count():
    teacher = SelfTeacher(512, 4, 100)
    assert teacher.fuse.bias is None
    assert sum(p.numel() for p in teacher.parameters()) == 2048 * 512 + 512 * 100 + 100  # 1,099,876


def test_golden_value_on_maps_and_on_pooled_features():
    torch.manual_seed(0)
    teacher = SelfTeacher(6, 3, 5)
    maps = [torch.randn(2, 6, 3, 3) for _ in range(3)]
    with torch.no_grad():
        expected = hand_self_teacher(teacher, maps)
        torch.testing.assert_close(teacher(maps), expected)
        torch.testing.assert_close(teacher([m.mean((2, 3)) for m in maps]), expected)


@pytest.mark.parametrize('k', [0, 1, 2])
def test_each_exit_enters_through_its_own_block_of_the_convolution(k):
    """Changing F_k alone moves the logits by fc.W (W_k (GAP F_k' - GAP F_k)): every exit counts, each once."""
    torch.manual_seed(k)
    teacher = SelfTeacher(6, 3, 5)
    maps = [torch.randn(2, 6, 3, 3) for _ in range(3)]
    changed = list(maps)
    changed[k] = torch.randn(2, 6, 3, 3)
    w_k = teacher.fuse.weight[:, 6 * k:6 * (k + 1), 0, 0]
    with torch.no_grad():
        delta = teacher(changed) - teacher(maps)
        expected = (changed[k] - maps[k]).mean((2, 3)) @ w_k.T @ teacher.fc.weight.T
        assert delta.abs().max() > 1e-2
        torch.testing.assert_close(delta, expected, rtol=1e-4, atol=1e-6)


def test_wrong_number_of_maps_raises():
    with pytest.raises(ValueError, match='expects 4 feature maps, got 3'):
        SelfTeacher(8, 4, 3)([torch.zeros(1, 8)] * 3)
