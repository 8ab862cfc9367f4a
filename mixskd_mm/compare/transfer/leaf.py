"""Writing a leaf config: :class:`Leaf` collects ``--cfg-options`` style overrides on a base config, and
:func:`write_leaf` writes them (deterministically, atomically) as Python literals under a header of what changed.
"""
from __future__ import annotations

import copy
import keyword
from collections.abc import Mapping, Sequence
from typing import Any

from mixskd_mm.utils.atomic_io import atomic_write_bytes

#: the width a leaf's lines are wrapped to
LINE = 120


class Leaf:
    """The top-level entries of a leaf config, and the base config with them applied (``work``).

    :meth:`set` takes ``--cfg-options`` style dotted keys. Entries inside a list (``param_scheduler.0.end``) are
    written as the whole list, as mmengine replaces lists instead of merging them.
    """

    def __init__(self, base: Mapping) -> None:
        self.work: dict[str, Any] = copy.deepcopy(dict(base))
        self.body: dict[str, Any] = {}
        self._lists: list[tuple[str, ...]] = []

    def set(self, key: str, value: Any) -> None:
        """Set ``key`` (dotted, list items by index) to ``value``; a dict merges unless it has ``_delete_=True``."""
        parts = key.split('.')
        node, cut = self.work, None
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                cut = i if cut is None else cut
                index = int(part)
                if last:
                    node[index] = _merged(node[index], value)
                else:
                    node[index] = _mutable(node[index])
                    node = node[index]
            else:
                if last:
                    node[part] = _merged(node.get(part), value)
                else:
                    node[part] = _mutable(node.get(part)) if isinstance(node.get(part), (dict, list, tuple)) else {}
                    node = node[part]
        if cut is None:
            _set_nested(self.body, parts, value)
        elif tuple(parts[:cut]) not in self._lists:
            self._lists.append(tuple(parts[:cut]))

    def entries(self) -> dict[str, Any]:
        """The leaf's top-level entries, lists that were edited item by item written whole."""
        body = copy.deepcopy(self.body)
        for path in self._lists:
            node: Any = self.work
            for part in path:
                node = node[int(part)] if isinstance(node, list) else node[part]
            _set_nested(body, list(path), node)
        return body


def _mutable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _merged(old: Any, new: Any) -> Any:
    """``new`` merged into ``old`` as mmengine merges a child config into its base."""
    if isinstance(new, Mapping):
        if new.get('_delete_') or not isinstance(old, Mapping):
            return {k: _merged(None, v) for k, v in new.items() if k != '_delete_'}
        out = dict(old)
        for k, v in new.items():
            out[k] = _merged(old.get(k), v)
        return out
    return copy.deepcopy(new)


def _set_nested(body: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    for part in parts[:-1]:
        if not isinstance(body.get(part), dict):
            body[part] = {}
        body = body[part]
    old = body.get(parts[-1])
    if isinstance(value, Mapping) and isinstance(old, dict) and not value.get('_delete_'):
        for k, v in value.items():
            _set_nested(old, [k], v)
    else:
        body[parts[-1]] = copy.deepcopy(value)


def write_leaf(out_path: str, leaf: Leaf, base: str, what: str, backbone: str, changes: Sequence[str]) -> None:
    lines = [f'# Written by mixskd_mm.compare.transfer.{what}: fine-tunes the base config from the backbone file',
             f'#   {backbone}',
             '# Train it with `python tools/train.py THIS_FILE --work-dir WORK_DIR`. Changed from the base config:']
    lines += [f'#   - {change}' for change in changes]
    lines += [f'_base_ = [{base!r}]', '']
    for key, value in leaf.entries().items():
        lines.append(f'{key} = {_literal(value, len(key) + 3)}')
    atomic_write_bytes(('\n'.join(lines) + '\n').encode('utf-8'), out_path)


def _is_name(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def inline(value: Any) -> str:
    """``value`` as one line of Python (dicts with identifier keys as ``dict(...)``)."""
    if isinstance(value, Mapping):
        if all(_is_name(k) for k in value):
            return 'dict(' + ', '.join(f'{k}={inline(v)}' for k, v in value.items()) + ')'
        return '{' + ', '.join(f'{inline(k)}: {inline(v)}' for k, v in value.items()) + '}'
    if isinstance(value, tuple):
        inner = ', '.join(inline(v) for v in value)
        return f'({inner},)' if len(value) == 1 else f'({inner})'
    if isinstance(value, list):
        return '[' + ', '.join(inline(v) for v in value) + ']'
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise ValueError(f'cannot write a {type(value).__name__} ({value!r}) into a config file')


def _literal(value: Any, column: int, indent: int = 0) -> str:
    """``value`` as Python starting at ``column`` of a line indented by ``indent``; containers that do not fit in
    :data:`LINE` columns get one item a line, 4 spaces deeper."""
    one = inline(value)
    if column + len(one) <= LINE or not isinstance(value, (Mapping, list, tuple)) or not value:
        return one
    inner = indent + 4
    pad = ' ' * inner
    if isinstance(value, Mapping):
        if all(_is_name(k) for k in value):
            items = [f'{pad}{k}={_literal(v, inner + len(k) + 1, inner)}' for k, v in value.items()]
            return 'dict(\n' + ',\n'.join(items) + ')'
        items = [f'{pad}{inline(k)}: {_literal(v, inner + len(inline(k)) + 2, inner)}' for k, v in value.items()]
        return '{\n' + ',\n'.join(items) + '}'
    items = [f'{pad}{_literal(v, inner, inner)}' for v in value]
    open_, close = ('(', ',)' if len(value) == 1 else ')') if isinstance(value, tuple) else ('[', ']')
    return open_ + '\n' + ',\n'.join(items) + close
