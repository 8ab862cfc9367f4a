"""What ``--tune`` searches, declared once: each method's space (config keys and their ranges), the sampler and the
pruner. The report prints these tables as they are here (:func:`space_rows`, :func:`search_settings`).

Every range is log-uniform: each parameter is a scale (a rate, a Beta concentration, a temperature, a weight), where a
factor matters more than a difference. The learning rate's range is relative to the comparison's own (``--lr`` or its
default), so a pretrained start and a from-scratch one are searched around their own defaults.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from ..configs import MATCHED


@dataclass(frozen=True)
class Param:
    """One tuned setting: Optuna's parameter name, the config key it sets, and its range.

    Attributes:
        name: The parameter's name in the study and in the report (``'lr'``, ``'alpha'``...).
        key: The dotted config key it sets (``'model.kd_loss.temperature'``).
        low: The lowest value (a factor of the comparison's learning rate when ``of_lr``).
        high: The highest value (likewise).
        of_lr: ``low`` and ``high`` multiply the comparison's learning rate.
    """

    name: str
    key: str
    low: float
    high: float
    of_lr: bool = False

    def bounds(self, lr: float) -> tuple[float, float]:
        """The range on a comparison whose learning rate is ``lr``."""
        return (self.low * lr, self.high * lr) if self.of_lr else (self.low, self.high)

    def distribution(self, lr: float):
        """The ``optuna.distributions.FloatDistribution`` (log-uniform) on a comparison of learning rate ``lr``."""
        from optuna.distributions import FloatDistribution
        low, high = self.bounds(lr)
        return FloatDistribution(low, high, log=True)


LR = Param('lr', 'optim_wrapper.optimizer.lr', 0.25, 4.0, of_lr=True)
ALPHA = Param('alpha', 'model.alpha', 0.1, 2.0)
#: each method's space; MixSKD's keys are those of ``compare.configs.model_config`` (and the paper's config)
SPACES: dict[str, tuple[Param, ...]] = {
    'ce': (LR,),
    'mixup': (LR, ALPHA),
    'cutmix': (LR, ALPHA),
    'mixskd': (LR, ALPHA, Param('temperature', 'model.kd_loss.temperature', 1.0, 8.0),
               Param('mix_ce_weight', 'model.mix_ce_loss.loss_weight', 0.1, 3.0),
               Param('kd_weight', 'model.kd_loss.loss_weight', 0.1, 3.0),
               Param('feat_weight', 'model.feat_loss.loss_weight', 0.1, 3.0),
               Param('adv_weight', 'model.adv_loss.loss_weight', 0.1, 3.0)),
}
#: methods searched in another method's space (the same model with another exit, or CE with more compute)
SAME_SPACE = {'mixskd-conv': 'mixskd', **MATCHED}


def space(method: str) -> tuple[Param, ...]:
    """The parameters tuned for ``method``.

    Raises:
        ValueError: for a method without a space, naming those that have one.
    """
    found = SPACES.get(SAME_SPACE.get(method, method))
    if found is None:
        raise ValueError(f'--tune: no search space for method {method!r}; spaces exist for '
                         f'{", ".join([*SPACES, *SAME_SPACE])} (mixskd_mm/compare/tune/spaces.py)')
    return found


def distributions(method: str, lr: float) -> dict:
    """``{name: distribution}`` of ``method``'s space on a comparison of learning rate ``lr``."""
    return {p.name: p.distribution(lr) for p in space(method)}


def defaults(method: str, lr: float) -> dict[str, float]:
    """``method``'s own setting in its space's terms: the comparison's learning rate and the method's config values
    (:func:`~mixskd_mm.compare.configs.model_config`). Each study's first trial, so the tuning's choice is never
    worse on validation than the method at its defaults, which the report can then name as a trial like any other.
    """
    from ..configs import model_config
    model = model_config(method, 'resnet18', 2, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    out = {}
    for p in space(method):
        node: Any = lr
        if not p.of_lr:  # every tuned key but the learning rate is under ``model``
            node = model
            for part in p.key.split('.')[1:]:
                node = node[part]
        out[p.name] = float(node)
    return out


def overrides(method: str, params: dict[str, float]) -> tuple[tuple[str, float], ...]:
    """A trial's parameters as ``((config key, value), ...)`` in the space's order."""
    return tuple((p.key, float(params[p.name])) for p in space(method))


def pruner_settings(trials: int, epochs: int) -> dict[str, int]:
    """``MedianPruner``'s arguments: prune a trial whose validation top-1 at an epoch is below the median of the
    finished trials' at that epoch, once ``n_startup_trials`` trials have finished, from epoch ``n_warmup_steps`` on.

    Small counts on purpose, so that a small budget can prune at all: a quarter of the trials (1 to 5) before
    pruning, and a quarter of the epochs (at least 1) before a trial can be judged.
    """
    return dict(n_startup_trials=max(1, min(5, trials // 4)), n_warmup_steps=max(1, epochs // 4))


def sampler_settings(method: str, trials: int, asked: int) -> dict:
    """``TPESampler``'s arguments for the next trial of ``method``'s study, which holds ``asked`` trials.

    The seed is the method's own plus the count of trials already asked, so a resumed study does not draw the
    points it drew before; ``n_startup_trials`` (random points before TPE models the results) is a third of the
    budget, 2 to 10 (Optuna's default is 10).
    """
    return dict(seed=zlib.crc32(method.encode()) % 10_000 + asked, n_startup_trials=min(10, max(2, trials // 3)),
                multivariate=True)


def search_settings(trials: int, epochs: int) -> dict:
    """What the report and ``results.json`` say about the search (trials, epochs, sampler, pruner)."""
    return dict(trials=trials, epochs=epochs, sampler='TPESampler (multivariate, seeded per method and trial)',
                sampler_startup=sampler_settings('', trials, 0)['n_startup_trials'],
                pruner=dict(type='MedianPruner', **pruner_settings(trials, epochs)))


def space_rows(methods: list[str], lr: float) -> list[dict]:
    """One row per (method, parameter): what the report's table and ``results.json`` list."""
    rows = []
    for method in methods:
        for p in space(method):
            low, high = p.bounds(lr)
            relative = f'{p.low:g}x to {p.high:g}x the comparison\'s lr {lr:g}' if p.of_lr else ''
            rows.append(dict(method=method, name=p.name, key=p.key, low=low, high=high, scale='log',
                             relative=relative))
    return rows
