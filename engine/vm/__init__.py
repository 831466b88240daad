"""The tape VM: small work (single points, small batches) on a compiled scalar interpreter.

A planned graph is lowered to a flat register tape (:mod:`engine.vm.tape`) and run by one
numba-compiled loop (:mod:`engine.vm.kernel`, compiled once and cached on disk). The choice
between tape and numpy comes from the work estimate (:func:`engine.vm.fastpath.tape_wins`);
``DIFFAPI_VM=off`` keeps everything on numpy, ``always`` uses the tape wherever it can.
"""

from engine.vm.fastpath import plan, warm

__all__ = ["plan", "warm"]
