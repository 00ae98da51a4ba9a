"""Numba types of the arrays passed to generated functions, without ``numba.typeof``'s import of ``numpy.ma``.

``numba.typeof`` checks every array against ``np.ma.MaskedArray``, and that
attribute access imports ``numpy.ma`` (35 ms, a tenth of a warm start). The
signature of a graph's first call (``_Runner._first_call``) and the typing
fallback of Numba's dispatcher (which types each new kind of argument through
``Dispatcher.typeof_pyval`` on its first call) use :func:`array_type` instead:
the same type for a plain C-contiguous ndarray, ``typeof`` for anything else.
"""
from __future__ import annotations

import weakref

import numpy as np
from numba import typeof
from numba.core import types
from numba.core.errors import NumbaError
from numba.np.numpy_support import from_dtype


def array_type(a):
    """``numba.typeof(a)``: computed here for a plain C-contiguous ndarray, by ``typeof`` otherwise."""
    if type(a) is np.ndarray and a.flags.c_contiguous:
        try:
            dtype = from_dtype(a.dtype)
        except NumbaError:
            return typeof(a)
        return types.Array(dtype, a.ndim, "C", readonly=not a.flags.writeable)
    return typeof(a)


class ArgTypes:
    """``typeof_pyval`` for one dispatcher (set as its attribute: Numba's C dispatcher looks it up by name):
    :func:`array_type` for plain C-contiguous arrays, the dispatcher's own method for everything else.

    Holds the dispatcher weakly: a strong reference would be a cycle through the dispatcher's ``__dict__``.
    """

    __slots__ = ("_disp",)

    def __init__(self, disp):
        self._disp = weakref.ref(disp)

    def __call__(self, val):
        disp = self._disp()
        if type(val) is np.ndarray and val.flags.c_contiguous:
            try:
                tp = types.Array(from_dtype(val.dtype), val.ndim, "C", readonly=not val.flags.writeable)
            except NumbaError:
                pass
            else:
                disp._types_active_call.add(tp)   # as Dispatcher.typeof_pyval does
                return tp
        return type(disp).typeof_pyval(disp, val)
