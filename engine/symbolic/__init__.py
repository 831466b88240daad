"""Symbolic derivatives: canonical term algebra, scalarizing graphs into terms, printing them
in our language and in LaTeX, and the formulas of each operation."""

from engine.symbolic.formulas import OPERATIONS, differentiate, free_names

__all__ = ["OPERATIONS", "differentiate", "free_names"]
