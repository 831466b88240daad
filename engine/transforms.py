"""The old path of :mod:`engine.ir.transforms`, importable until the modules written alongside the
move into folders import the new one."""

from engine.ir.transforms import ancestors, jvp, vjp

__all__ = ['ancestors', 'jvp', 'vjp']
