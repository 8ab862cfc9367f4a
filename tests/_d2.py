"""A tiny COCO-format dataset registered with Detectron2, and the options that shrink our Detectron2 configs to it."""
from __future__ import annotations

from pathlib import Path

from _fake_detection import write_coco_detection

#: timm's ``test_resnet`` normalises with mean 0.5 / std 0.5: 127.5 on Detectron2's 0-255 scale
TEST_RESNET_PIXELS = ['MODEL.PIXEL_MEAN', '[127.5, 127.5, 127.5]', 'MODEL.PIXEL_STD', '[127.5, 127.5, 127.5]']


def register_tiny_coco(root: Path) -> tuple[str, str]:
    """Write a tiny COCO (4 train / 2 val JPEGs of 96x128) under ``root`` once and register it; returns the names."""
    from detectron2.data import DatasetCatalog
    from detectron2.data.datasets import register_coco_instances
    names = ('mixskd_tiny_coco_train', 'mixskd_tiny_coco_val')
    if names[0] in DatasetCatalog.list():
        return names
    if not (root / 'annotations' / 'instances_val2017.json').exists():
        write_coco_detection(root)
    for name, split in zip(names, ('train2017', 'val2017')):
        register_coco_instances(name, {}, str(root / 'annotations' / f'instances_{split}.json'), str(root / split))
    return names


def tiny_opts(names: tuple[str, str], out: Path, model: str = 'test_resnet', iters: int = 2) -> list[str]:
    """``KEY VALUE`` options: ``model`` on the CPU, 64-96 px images, ``iters`` iterations of 2 images, few proposals."""
    pixels = TEST_RESNET_PIXELS if model == 'test_resnet' else []
    return ['MODEL.TIMM.NAME', model, *pixels, 'MODEL.DEVICE', 'cpu', 'OUTPUT_DIR', str(out),
            'DATASETS.TRAIN', f"('{names[0]}',)", 'DATASETS.TEST', f"('{names[1]}',)",
            'DATALOADER.NUM_WORKERS', '0', 'SOLVER.IMS_PER_BATCH', '2', 'SOLVER.MAX_ITER', str(iters),
            'SOLVER.STEPS', '()', 'SOLVER.BASE_LR', '0.001', 'SOLVER.WARMUP_ITERS', '1',
            'SOLVER.CHECKPOINT_PERIOD', '1000', 'TEST.EVAL_PERIOD', '0',
            'INPUT.MIN_SIZE_TRAIN', '(64,)', 'INPUT.MAX_SIZE_TRAIN', '96', 'INPUT.MIN_SIZE_TEST', '64',
            'INPUT.MAX_SIZE_TEST', '96', 'MODEL.RPN.PRE_NMS_TOPK_TRAIN', '200', 'MODEL.RPN.POST_NMS_TOPK_TRAIN', '50',
            'MODEL.RPN.PRE_NMS_TOPK_TEST', '200', 'MODEL.RPN.POST_NMS_TOPK_TEST', '50',
            'MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE', '16', 'TEST.DETECTIONS_PER_IMAGE', '20',
            # an untrained head scores about 1/81: keep its boxes, so that COCOEvaluator has predictions to score
            'MODEL.ROI_HEADS.SCORE_THRESH_TEST', '0.0', 'MODEL.RETINANET.SCORE_THRESH_TEST', '0.0']


def tiny_lazy(cfg, names: tuple[str, str], out: Path, model: str = 'test_resnet', iters: int = 2):
    """The same shrinking for a LazyConfig (in place); returns ``cfg``."""
    from detectron2.config import LazyCall as L
    from detectron2.data import transforms as T
    cfg.model.backbone.bottom_up.model_name = model
    if model == 'test_resnet':
        cfg.model.pixel_mean, cfg.model.pixel_std = [127.5] * 3, [127.5] * 3
    cfg.model.proposal_generator.update(pre_nms_topk=(200, 200), post_nms_topk=(50, 50))
    cfg.model.roi_heads.batch_size_per_image = 16
    cfg.model.roi_heads.box_predictor.test_score_thresh = 0.0
    for split, name in zip(('train', 'test'), names):
        loader = cfg.dataloader[split]
        loader.dataset.names = name
        loader.num_workers = 0
        loader.mapper.augmentations = [L(T.ResizeShortestEdge)(short_edge_length=64, max_size=96)]
    cfg.dataloader.train.total_batch_size = 2
    cfg.train.update(max_iter=iters, device='cpu', output_dir=str(out), eval_period=0, log_period=1,
                     checkpointer=dict(period=1000, max_to_keep=2))
    cfg.optimizer.lr = 0.001
    return cfg
