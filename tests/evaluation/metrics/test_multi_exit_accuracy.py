import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from mixskd_mm.registry import METRICS

# 4 samples, 3 classes, labels 0, 2, 2, 1.
# backbone: argmax 0, 1, 2, 0 -> samples 0 and 2 right: top-1 = 50 %; second choices 1, 2, 0, 1 -> top-2 = 100 %.
# exit1: argmax 1, 2, 0, 1 -> samples 1 and 3 right: 50 %; second choices 0, 1, 1, 0 -> sample 0 too: top-2 = 75 %.
# self_teacher: all right.
LABELS = [0, 2, 2, 1]
BACKBONE = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.1, 0.7], [0.5, 0.4, 0.1]]
EXIT1 = [[0.3, 0.6, 0.1], [0.1, 0.2, 0.7], [0.8, 0.15, 0.05], [0.3, 0.6, 0.1]]
TEACHER = [[0.9, 0.05, 0.05], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]


def _samples(label_type=int):
    return [dict(pred_scores=dict(backbone=torch.tensor(b), exit1=torch.tensor(e), self_teacher=torch.tensor(t)),
                 gt_label=label_type(label)) for b, e, t, label in zip(BACKBONE, EXIT1, TEACHER, LABELS)]


def _build(**kwargs):
    init_default_scope('mixskd_mm')
    return METRICS.build(dict(type='MultiExitAccuracy', **kwargs))


def test_hand_made_numbers():
    metric = _build(topk=(1, 2), report_max_exit=True)
    metric.process({}, _samples()[:2])
    metric.process({}, _samples(lambda v: torch.tensor(v))[2:])
    out = metric.compute_metrics(metric.results)
    assert out['top1'] == 50.0 and out['top2'] == 100.0
    assert out['exit1_top1'] == 50.0 and out['exit1_top2'] == 75.0
    assert out['self_teacher_top1'] == 100.0 and out['self_teacher_top2'] == 100.0
    assert out['max_exit_top1'] == 100.0
    assert list(out)[:2] == ['top1', 'top2']


def test_topk_above_num_classes_is_clamped_and_warned_once(monkeypatch):
    from mixskd_mm.evaluation.metrics import multi_exit_accuracy

    messages = []
    monkeypatch.setattr(multi_exit_accuracy, 'print_log', lambda msg, *args, **kwargs: messages.append(msg))
    metric = _build()
    metric.process({}, _samples())
    metric.process({}, _samples())
    out = metric.compute_metrics(metric.results)
    assert out['top1'] == 50.0 and out['top5'] == 100.0 and 'max_exit_top1' not in out
    assert len(messages) == 1 and 'clamped to 3' in messages[0]


def test_backbone_only_bare_tensor_and_one_element_label():
    metric = _build(topk=1)
    metric.process({}, [dict(pred_scores=torch.tensor([0.2, 0.8]), gt_label=torch.tensor([1])),
                        dict(pred_scores=dict(backbone=torch.tensor([0.2, 0.8])), gt_label=0)])
    assert metric.compute_metrics(metric.results) == {'top1': 50.0}
    with pytest.raises(KeyError, match='backbone'):
        metric.process({}, [dict(pred_scores=dict(exit1=torch.tensor([1.0, 0.0])), gt_label=0)])


def test_through_evaluator_keys_have_accuracy_prefix():
    init_default_scope('mixskd_mm')
    evaluator = Evaluator(dict(type='MultiExitAccuracy', topk=(1, 5)))
    evaluator.process(_samples(), data_batch={})
    out = evaluator.evaluate(4)
    assert out['accuracy/top1'] == 50.0 and out['accuracy/top5'] == 100.0
    assert out['accuracy/self_teacher_top1'] == 100.0 and 'accuracy/exit1_top1' in out
