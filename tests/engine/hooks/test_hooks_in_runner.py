"""The safety hooks inside a real MMEngine Runner, in this process (``mmengine.testing.RunnerTestCase``): seconds per
test instead of a ``tools/train.py`` subprocess. tests/engine/hooks/test_safety_hooks.py keeps the end-to-end runs."""
import copy
import json
import os

import torch
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS
from mmengine.testing import RunnerTestCase
from mmengine.testing.runner_test_case import ToyDataset
from torch import nn

import mixskd_mm  # noqa: F401  (registers the hooks; weights-only loading of the Runner's checkpoints)


class DrawingModel(BaseModel):
    """A toy model whose loss draws from torch's global generator, as Mixup draws lam and the pairing.

    Every draw is kept in ``DrawingModel.draws`` (class-wide: a resumed run builds a new model). With ``nan_at=N``
    the loss of the N-th training step (1-based) is NaN.
    """

    draws: list = []

    def __init__(self, nan_at: int = 0, data_preprocessor=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.linear = nn.Linear(2, 1)
        self.nan_at = nan_at
        self.steps = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        out = self.linear(inputs)
        if mode != 'loss':
            return out
        self.steps += 1
        draw = torch.rand(())
        DrawingModel.draws.append(float(draw))
        loss = (out.squeeze(1) * draw).mean()
        extra = torch.tensor(float('nan')) if self.steps == self.nan_at else torch.zeros(())
        return dict(loss=loss, loss_extra=extra)


class ClassedDataset(ToyDataset):
    METAINFO = dict(classes=('a', 'b', 'c', 'd'))


class _Backbone(nn.Module):
    out_channels = (8, 16)
    out_indices = (1, 2)
    model_name = 'toy'


class _Neck(nn.Module):
    in_channels = [8, 32]


class _Head(nn.Module):
    def __init__(self, in_channels, in_index):
        super().__init__()
        self.in_channels, self.in_index = in_channels, in_index


class MismatchedModel(DrawingModel):
    """Parts that do not fit: ``kind`` picks a neck, decode heads or a class count that disagree."""

    def __init__(self, kind: str, data_preprocessor=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.backbone = _Backbone()
        if kind == 'neck':
            self.neck = _Neck()
        elif kind == 'heads':
            self.decode_head = _Head(in_channels=8, in_index=1)
            self.auxiliary_head = _Head(in_channels=8, in_index=0)  # fits
        elif kind == 'classes':
            self.num_classes = 3


class HooksInRunnerTest(RunnerTestCase):

    def setUp(self) -> None:
        super().setUp()
        for module in (DrawingModel, MismatchedModel):
            MODELS.register_module(module=module, force=True)
        DATASETS.register_module(module=ClassedDataset, force=True)
        DrawingModel.draws = []
        self.cfg = copy.deepcopy(self.epoch_based_cfg)
        self.cfg.model = dict(type='DrawingModel')
        self.cfg.randomness = dict(seed=0)
        self.cfg.default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                                      checkpoint=dict(type='CheckpointHook', interval=1))

    def tearDown(self) -> None:
        for name in ('DrawingModel', 'MismatchedModel'):
            MODELS.module_dict.pop(name, None)
        DATASETS.module_dict.pop('ClassedDataset', None)
        super().tearDown()

    def _train(self, work_dir: str, max_epochs: int, hooks, resume: bool = False) -> list:
        """Train the drawing model; returns the draws made by this run."""
        cfg = copy.deepcopy(self.cfg)
        cfg.work_dir = work_dir
        cfg.train_cfg.max_epochs = max_epochs
        cfg.custom_hooks = [dict(type=h) for h in hooks]
        cfg.resume = resume
        start = len(DrawingModel.draws)
        self.build_runner(cfg).train()
        return DrawingModel.draws[start:]

    # -- RNGStateHook -------------------------------------------------------------------------------------------------
    def _resumed_draws(self, hooks) -> tuple:
        """(draws of epoch 2 in an uninterrupted 2-epoch run, draws of epoch 2 after stopping at 1 and resuming)."""
        full = self._train(os.path.join(self.temp_dir.name, 'full'), 2, hooks)
        part = os.path.join(self.temp_dir.name, 'part')
        first = self._train(part, 1, hooks)
        assert first == full[:len(first)]  # one seed, one run up to the stop
        resumed = self._train(part, 2, hooks, resume=True)
        return full[len(first):], resumed

    def test_rng_state_round_trip_makes_a_resumed_run_draw_what_an_uninterrupted_run_draws(self):
        expected, resumed = self._resumed_draws(['mixskd_mm.RNGStateHook'])
        assert len(expected) == 4 and resumed == expected  # 12 images / 3 per step, validation after epoch 1
        ckpt = torch.load(os.path.join(self.temp_dir.name, 'part', 'epoch_1.pth'), weights_only=True)
        assert set(ckpt['rng_state']) >= {'python', 'numpy', 'torch'}

    def test_without_the_hook_a_resumed_run_draws_differently(self):
        # the contrast that shows the round trip above is the hook's doing: MMEngine re-seeds on resume
        expected, resumed = self._resumed_draws([])
        assert len(resumed) == len(expected) and resumed != expected

    # -- NonFiniteLossHook --------------------------------------------------------------------------------------------
    def test_non_finite_loss_stops_at_its_iteration_naming_the_term_and_keeps_the_checkpoint(self):
        self.cfg.model = dict(type='DrawingModel', nan_at=6)  # epoch 2, its second step
        with self.assertRaisesRegex(RuntimeError, r'non-finite loss at iteration 6 \(epoch 2\): loss_extra=nan'):
            self._train(self.temp_dir.name, 2, ['mixskd_mm.NonFiniteLossHook'])
        ckpt = torch.load(os.path.join(self.temp_dir.name, 'epoch_1.pth'), weights_only=True)
        assert ckpt['meta']['epoch'] == 1 and torch.isfinite(ckpt['state_dict']['linear.weight']).all()

    def test_finite_losses_pass(self):
        assert len(self._train(self.temp_dir.name, 1, ['mixskd_mm.NonFiniteLossHook'])) == 4

    # -- SanityCheckHook ----------------------------------------------------------------------------------------------
    def _mismatch(self, kind: str) -> str:
        self.cfg.model = dict(type='MismatchedModel', kind=kind)
        self.cfg.train_dataloader.dataset = dict(type='ClassedDataset')
        with self.assertRaises(ValueError) as caught:
            self._train(self.temp_dir.name, 1, ['mixskd_mm.SanityCheckHook'])
        assert DrawingModel.draws == []  # stopped before the first step
        return str(caught.exception)

    def test_neck_channels_mismatch_names_the_fix(self):
        message = self._mismatch('neck')
        assert 'model.neck.in_channels=[8, 32] but the backbone toy with out_indices [1, 2] gives ' \
               'out_channels=[8, 16]: set model.neck.in_channels=[8, 16]' in message

    def test_decode_head_mismatch_names_the_fix_and_a_fitting_head_passes(self):
        message = self._mismatch('heads')
        assert 'model.decode_head.in_channels=8 (in_index=1) but the backbone toy' in message
        assert message.rstrip().endswith('set in_channels=16') and 'auxiliary_head' not in message

    def test_class_count_mismatch_names_the_dataset_and_the_fix(self):
        message = self._mismatch('classes')
        assert 'model.num_classes=3 but the training dataset ClassedDataset has 4 classes (a, b, c, d, ...): ' \
               'set model.num_classes=4' in message


# -- ExportBackboneHook ---------------------------------------------------------------------------------------------
class ImageDataset(ToyDataset):
    """12 random 3x16x16 images (fixed), labels 0/1."""
    images = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(0))

    def __getitem__(self, index):
        return dict(inputs=self.images[index], data_samples=torch.tensor(index % 2))


class BackboneModel(BaseModel):
    """A ``TimmStageBackbone`` (built from ``backbone``, as MixSKD builds its own) trained on a stand-in loss."""

    def __init__(self, backbone: dict, data_preprocessor=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.backbone = MODELS.build(backbone)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        inputs = torch.stack(inputs) if isinstance(inputs, list) else inputs
        feats = self.backbone(inputs)
        if mode == 'loss':
            return dict(loss=sum(f.mean() for f in feats))
        return feats[-1].mean(dim=(1, 2, 3))


class ExportHookInRunnerTest(RunnerTestCase):

    def setUp(self) -> None:
        super().setUp()
        MODELS.register_module(module=BackboneModel, force=True)
        DATASETS.register_module(module=ImageDataset, force=True)

    def tearDown(self) -> None:
        MODELS.module_dict.pop('BackboneModel', None)
        DATASETS.module_dict.pop('ImageDataset', None)
        super().tearDown()

    def test_the_exported_file_holds_the_trained_backbone_with_timm_keys_and_its_description(self):
        from safetensors import safe_open
        cfg = copy.deepcopy(self.epoch_based_cfg)
        backbone = dict(type='mixskd_mm.TimmStageBackbone', model_name='test_resnet', stem_act=False, in_chans=3)
        cfg.model = dict(type='BackboneModel', backbone=backbone)
        cfg.train_dataloader.dataset = dict(type='ImageDataset')
        cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
        cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
        cfg.custom_hooks = [dict(type='mixskd_mm.ExportBackboneHook')]
        runner = self.build_runner(cfg)
        before = {k: v.clone() for k, v in runner.model.backbone.state_dict().items()}
        runner.train()
        trained = runner.model.backbone.state_dict()
        with safe_open(os.path.join(self.temp_dir.name, 'backbone.safetensors'), framework='pt') as f:
            saved = {k: f.get_tensor(k) for k in f.keys()}
            meta = f.metadata()
        assert set(saved) == set(trained) and 'layer1.0.conv1.weight' in saved  # timm's names, nothing else
        assert all(torch.equal(saved[k], trained[k]) for k in saved)
        assert not torch.equal(saved['layer4.0.conv1.weight'], before['layer4.0.conv1.weight'])  # trained, not initial
        meta.pop('format', None)
        assert meta.pop('source') == f'{runner.experiment_name} epoch 1 iter 4'
        # what the backbone was fed: no data preprocessor normalises, so raw 0-255 values (mean 0, std 1/255)
        inputs = json.loads(meta.pop('pretrained_cfg'))
        assert inputs['mean'] == [0.0] * 3 and inputs['std'] == [1 / 255] * 3
        assert meta == runner.model.backbone.export_metadata() == dict(
            model_name='test_resnet', out_indices='[1, 2, 3, 4]', cifar_stem='false', stem_act='false')
