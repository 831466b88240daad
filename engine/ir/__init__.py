"""The graph IR: ops and their records, nodes, emission, transforms and evaluation.

Importing the package declares every op (:mod:`engine.ir.primitives` fills
:data:`engine.ir.ops.PRIMITIVES`), so any module that reads the records finds them complete.
"""

# saturating first: the last line of primitives checks that every op is declared
from engine.ir import saturating

# isort: split
from engine.ir import primitives

__all__ = ["primitives", "saturating"]
