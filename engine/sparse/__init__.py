"""Sparse derivatives: structural patterns, coloring, compressed evaluation (API.md §6)."""

from engine.sparse.compressed import plan_sparsity, sparse_planner

__all__ = ["plan_sparsity", "sparse_planner"]
