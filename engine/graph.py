"""The old path of :mod:`engine.ir.graph`, importable until the modules written alongside the
move into folders import the new one."""

from engine.ir.graph import Graph, Node, Shape, size_of

__all__ = ['Graph', 'Node', 'Shape', 'size_of']
