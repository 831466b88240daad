"""The old path of :mod:`engine.language.lowering`, importable until the modules written
alongside the move into folders import the new one."""

from engine.language.lowering import Lowering, lower

__all__ = ['Lowering', 'lower']
