"""Heads: classifiers, auxiliary exits and the self-teacher."""
from .exits import ConvExit, ReplicateExit, build_exit
from .linear_cls_head import LinearClsHead, global_pool
from .self_teacher import SelfTeacher

__all__ = ['ConvExit', 'ReplicateExit', 'build_exit', 'LinearClsHead', 'global_pool', 'SelfTeacher']
