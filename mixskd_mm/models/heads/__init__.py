"""Heads: the linear classifier (every exit's and the backbone's) and the self-teacher."""
from .linear_cls_head import LinearClsHead, global_pool
from .self_teacher import SelfTeacher

__all__ = ['LinearClsHead', 'global_pool', 'SelfTeacher']
