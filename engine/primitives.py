"""The old path of the op records (:mod:`engine.ir.ops`) and of the emission helpers that
modules written alongside the move into folders use (:mod:`engine.ir.emit`), importable until
they import the new ones."""

from engine.ir.emit import add, mul, reshape, stack, sum_all
from engine.ir.ops import PRIMITIVES, Primitive

__all__ = ["PRIMITIVES", "Primitive", "add", "mul", "reshape", "stack", "sum_all"]
