"""The old path of :mod:`engine.ir.evaluate`, importable until the modules written alongside the
move into folders import the new one."""

from engine.ir.evaluate import Plan, make_plan, run

__all__ = ['Plan', 'make_plan', 'run']
