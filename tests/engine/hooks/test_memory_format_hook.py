"""``MemoryFormatHook``: the layouts ``channels_last='auto'`` timed travel in checkpoints and come back on resume."""
import copy
import os

import pytest
import torch
from mmengine.registry import DATASETS
from mmengine.testing import RunnerTestCase
from mmengine.testing.runner_test_case import ToyDataset
from torch import nn

import mixskd_mm  # noqa: F401  (registers the hooks and models)
from mixskd_mm.engine.hooks.memory_format_hook import dump_choices, load_choices
from mixskd_mm.models import memory_format

CL = torch.channels_last


class LabelledImages(ToyDataset):
    """12 random 3x32x32 images (fixed), labels 0/1."""
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def __getitem__(self, index):
        return dict(inputs=self.images[index], data_samples=torch.tensor(index % 2))


def _small_maps_contiguous(sig, fmt):
    small = sig.input_shape[-2] * sig.input_shape[-1] <= 16
    return (1.0 if fmt is CL else 0.5) if small else (1.0 if fmt is CL else 2.0)


def _always_contiguous(sig, fmt):
    return 1.0 if fmt is CL else 0.5


def test_choices_survive_a_weights_only_round_trip(tmp_path):
    memory_format.reset()
    conv = nn.Conv2d(4, 8, 3, padding='same')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        memory_format._pending[memory_format.signature(conv, torch.zeros(2, 4, 6, 6, requires_grad=True))] = None
    memory_format._pending[memory_format.signature(nn.Conv2d(4, 8, 1, stride=2), torch.zeros(2, 4, 6, 6))] = None
    memory_format.tune_pending(lambda sig, fmt: 1.0 if (fmt is CL) == (sig.autocast is None) else 0.5)
    before = memory_format.chosen()
    assert set(before.values()) == {CL, torch.contiguous_format}
    torch.save(dict(memory_formats=dump_choices()), tmp_path / 'c.pth')
    memory_format.reset()
    assert load_choices(torch.load(tmp_path / 'c.pth', weights_only=True)['memory_formats']) == 2
    assert memory_format.chosen() == before
    memory_format.reset()


class MemoryFormatHookTest(RunnerTestCase):

    def setUp(self) -> None:
        super().setUp()
        DATASETS.register_module(module=LabelledImages, force=True)
        memory_format.reset()
        cfg = copy.deepcopy(self.epoch_based_cfg)
        cfg.model = dict(type='mixskd_mm.ImageClassifier', num_classes=2, channels_last='auto',
                         backbone=dict(type='mixskd_mm.TimmStageBackbone', model_name='test_resnet'))
        cfg.train_dataloader.dataset = dict(type='LabelledImages')
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        cfg.randomness = dict(seed=0)
        cfg.default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1))
        self.cfg = cfg

    def tearDown(self) -> None:
        DATASETS.module_dict.pop('LabelledImages', None)
        memory_format.reset()
        super().tearDown()

    def _train(self, max_epochs: int, hooks, resume: bool = False) -> None:
        cfg = copy.deepcopy(self.cfg)
        cfg.work_dir = self.temp_dir.name
        cfg.train_cfg.max_epochs = max_epochs
        cfg.custom_hooks = [dict(type=h) for h in hooks]
        cfg.resume = resume
        self.build_runner(cfg).train()

    def _resumed_choices(self, hooks) -> tuple:
        """(choices after epoch 1, the checkpoint's, choices after resuming for epoch 2 with a timer that would choose
        contiguous everywhere)."""
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(memory_format, 'time_call', _small_maps_contiguous)
            self._train(1, hooks)
        first = memory_format.chosen()
        saved = torch.load(os.path.join(self.temp_dir.name, 'epoch_1.pth'), weights_only=True).get('memory_formats')
        memory_format.reset()  # a new process
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(memory_format, 'time_call', _always_contiguous)
            self._train(2, hooks, resume=True)
        return first, saved, memory_format.chosen()

    def test_a_resumed_run_keeps_the_layouts_of_the_run_it_continues(self):
        first, saved, resumed = self._resumed_choices(['mixskd_mm.MemoryFormatHook'])
        assert set(first.values()) == {CL, torch.contiguous_format}  # test_resnet at 32 px: big and small maps
        assert saved and len(saved) == len(first)
        assert resumed == first

    def test_without_the_hook_a_resumed_run_times_them_again(self):
        first, saved, resumed = self._resumed_choices([])
        assert saved is None and set(resumed) == set(first) and set(resumed.values()) == {torch.contiguous_format}

    def test_nothing_is_written_without_auto(self):
        self.cfg.model.channels_last = True
        self._train(1, ['mixskd_mm.MemoryFormatHook'])
        ckpt = torch.load(os.path.join(self.temp_dir.name, 'epoch_1.pth'), weights_only=True)
        assert 'memory_formats' not in ckpt and not memory_format.chosen()
