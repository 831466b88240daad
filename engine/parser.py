"""The old path of :mod:`engine.language.parser`, importable until the modules written alongside the
move into folders import the new one."""

from engine.language.parser import LINALG_PREFIXES, MODULE_PREFIXES, parse

__all__ = ['LINALG_PREFIXES', 'MODULE_PREFIXES', 'parse']
