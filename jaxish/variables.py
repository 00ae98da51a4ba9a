"""Variable: a mutable, named holder of a tensor value."""
from __future__ import annotations

import operator

import numpy as np

from . import dtypes as _dt
from . import ops as _ops
from .core import STATE, Tensor, Tracer, VariableBase, current_trace, read_variable, to_tensor_arg
from .core.trace import bind_binary
from .errors import invalid_argument
from .primitives.elementwise import add_p, sub_p
from .tensor_methods import install


class Variable(VariableBase):
    """A mutable tensor, typically a model parameter.

    Parameters
    ----------
    initial_value : tensor-like or callable
    dtype : DType, optional
    trainable : bool
        Trainable variables read under a ``GradientTape`` are watched.
    name : str, optional
        Shown as ``'<name>:0'``; defaults to ``'Variable'`` as in TensorFlow.

    Notes
    -----
    Ops on a Variable return Tensors. Inside ``@trace`` a Variable read is an
    implicit input and an assignment an implicit output.
    """

    def __init__(self, initial_value=None, trainable: bool = True, name: str | None = None, dtype=None,
                 shape=None):
        from .creation import constant
        if initial_value is None:
            raise ValueError("Variable: initial_value must be given")
        trace = current_trace()
        if trace is not None and trace.is_retrace:
            raise ValueError(f"Variable: {trace.name} tried to create a Variable on a retrace. Variables can only "
                             f"be created on the first trace of a traced function (they would otherwise be "
                             f"created anew on every new input signature); create it outside the function.")
        if callable(initial_value):
            initial_value = initial_value()
        if isinstance(initial_value, Variable):
            initial_value = initial_value._value
        if isinstance(initial_value, Tensor) and dtype is not None and _dt.as_dtype(dtype) != initial_value.dtype:
            raise ValueError(f"Variable: initial_value: Tensor conversion requested dtype {_dt.as_dtype(dtype).name} "
                             f"for a tensor of dtype {initial_value.dtype.name} (jaxish.cast converts it)")
        try:
            value = constant(initial_value, dtype=dtype)
        except (TypeError, ValueError) as e:
            from .ops import op_error
            raise op_error(e, "Variable") from None
        if isinstance(value, Tracer):
            raise ValueError(f"Variable: the initial value depends on traced inputs of {value._trace.name}; "
                             f"create the Variable outside the traced function")
        if value._weak:
            value = value._with_weak(False)
        if shape is not None:
            _check_shape_arg(shape, tuple(value.aval.shape))
        self._value = value
        self.trainable = bool(trainable)
        self._name = "Variable" if name is None else str(name)

    # -- properties --
    @property
    def name(self) -> str:
        return f"{self._name}:0"

    @property
    def dtype(self) -> _dt.DType:
        return self._value.dtype

    @property
    def shape(self):
        return self._value.shape

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def device(self) -> str:
        return self._value.device

    @property
    def aval(self):
        return self._value.aval.strip_weak()

    # -- reading --
    def read_value(self) -> Tensor:
        """The current value as a Tensor (recorded on active tapes)."""
        if STATE.tapes:
            from .ops import identity
            return identity(self)
        return read_variable(self)

    def value(self) -> Tensor:
        return self.read_value()

    def numpy(self) -> np.ndarray:
        return read_variable(self).numpy()

    def __array__(self, dtype=None, copy=None):
        return read_variable(self).__array__(dtype, copy)

    # -- writing --
    def _check(self, value, op: str) -> Tensor:
        if isinstance(value, Variable):  # its value now (inside a trace: an implicit input, not a constant)
            value = read_variable(value)
        if not isinstance(value, Tensor):
            from .creation import constant
            from .ops import op_error
            try:
                value = constant(value, dtype=self.dtype)
            except (TypeError, ValueError) as e:
                raise op_error(e, op) from None
        a, mine = value.aval, self._value.aval
        if a.dtype is not mine.dtype:  # (eagerly also a ValueError, as TensorFlow's)
            raise _eager(TypeError)(f"{op}: cannot assign a value of dtype {value.dtype.name} to the variable "
                            f"{self.name!r} of dtype {self.dtype.name}")
        if a.shape != mine.shape:
            raise ValueError(f"{op}: cannot assign a value of shape {tuple(value.aval.shape)} to the variable "
                             f"{self.name!r} of shape {tuple(self._value.aval.shape)}")
        return value

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Replace the value; shape and dtype must match."""
        value = self._check(value, "assign")
        trace = STATE.main
        if trace is not None:
            trace.assign_variable(self, value)
        else:
            if isinstance(value, Tracer):
                value._trace.check_alive(value)
            if value._weak:
                value = value._with_weak(False)
            if value._device != self._value._device:  # as TensorFlow: the Variable stays on its device
                from .devices import copy_to
                value = copy_to(value, self._value._device)
            self._value = value
        return self if read_value else None

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """``self += delta`` (``delta`` of the Variable's shape, as in TensorFlow); returns the Variable, or None
        with ``read_value=False``."""
        if type(delta) is Tensor:
            out = self._same_type_binop(add_p, delta, "assign_add")
            if out is not None:
                return self._assign_result(out, read_value)
        return self._assign_result(self._checked_binop(_ops.add, delta, "assign_add"), read_value)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """``self -= delta`` (``delta`` of the Variable's shape, as in TensorFlow); returns the Variable, or None
        with ``read_value=False``."""
        if type(delta) is Tensor:
            out = self._same_type_binop(sub_p, delta, "assign_sub")
            if out is not None:
                return self._assign_result(out, read_value)
        return self._assign_result(self._checked_binop(_ops.subtract, delta, "assign_sub"), read_value)

    def _same_type_binop(self, prim, delta: Tensor, op: str):
        """``_checked_binop`` for a Tensor ``delta`` of this Variable's dtype and weak type (the training-loop
        case: nothing to check or promote, as ``ops.add`` would find), else None."""
        da, ca = delta._aval, self._value._aval
        if da is None or ca is None or da.dtype is not ca.dtype or da.weak_type != ca.weak_type \
                or da.shape != ca.shape:
            return None
        try:
            return bind_binary(prim, read_variable(self), delta)
        except (TypeError, ValueError) as e:
            raise _ops.op_error(e, op) from None

    def _assign_result(self, value, read_value=True):
        """``assign(value)`` for the result of an op on this Variable's value: eagerly, a Tensor with the very
        aval object of the current value (so the same shape and dtype, strong) on its device is stored as it is
        (the checks ``assign`` would make, by identity)."""
        cur = self._value
        a = value._aval if type(value) is Tensor else None
        if a is not None and a is cur._aval and value._device == cur._device and STATE.main is None:
            self._value = value
            return self if read_value else None
        return self.assign(value, read_value=read_value)

    def _checked_binop(self, fn, delta, op):
        d = read_variable(delta) if isinstance(delta, Variable) else delta
        if isinstance(d, Tensor):
            a = d.aval
            if not a.weak_type and a.dtype is not self.dtype:
                raise _eager(TypeError)(f"{op}: cannot add a value of dtype {d.dtype.name} to the variable "
                                        f"{self.name!r} of dtype {self.dtype.name}")
        elif isinstance(d, np.ndarray):
            d = to_tensor_arg(d.astype(self.dtype.np))
        elif not isinstance(d, (int, float)):  # a list, a string ...: converted to the Variable's dtype first
            from .creation import constant
            try:
                d = constant(d, dtype=self.dtype)
            except (TypeError, ValueError) as e:
                raise _ops.op_error(e, op) from None
        shape = tuple(d.aval.shape) if isinstance(d, Tensor) else ()
        if shape != tuple(self._value.aval.shape):  # no broadcasting, as TensorFlow's AssignAddVariableOp
            raise _eager(ValueError)(f"{op}: cannot update the variable {self.name!r} of shape "
                                     f"{tuple(self._value.aval.shape)} with a value of shape {shape}: shapes must "
                                     f"be equal")
        try:
            return fn(read_variable(self), d)
        except (TypeError, ValueError) as e:
            raise _ops.op_error(e, op) from None

    def __repr__(self) -> str:
        from .printing import variable_repr
        return variable_repr(self)

    def __str__(self) -> str:
        return self.__repr__()

    def ref(self):
        from .tensor_shape import Reference
        return Reference(self)

    experimental_ref = ref

    def __len__(self):
        return len(self._value)

    def __iter__(self):  # through read_value, so that tapes record the read
        return iter(self.read_value())

    def __bool__(self):
        return bool(read_variable(self))

    def __float__(self):
        return float(read_variable(self))

    def __int__(self):
        return int(read_variable(self))

    def __index__(self):
        return read_variable(self).__index__()

    def __format__(self, spec):
        return format(read_variable(self), spec)


install(Variable)


def _eager(cls: type) -> type:
    """``cls``, or with no trace active the InvalidArgumentError subclassing it (TensorFlow's eager error)."""
    return invalid_argument(cls) if STATE.main is None else cls


def _check_shape_arg(shape, actual: tuple) -> None:
    """``Variable(shape=...)`` must agree with the initial value (``None`` matches any size), as in TensorFlow;
    a Variable's shape never changes afterwards."""
    try:
        dims = [None if d is None else operator.index(d) for d in shape]
    except TypeError:
        raise TypeError(f"Variable: shape must be a list of ints or None, got {shape!r:.60}") from None
    if len(dims) != len(actual) or any(d is not None and d != a for d, a in zip(dims, actual)):
        raise ValueError(f"Variable: the initial value's shape {actual} is not compatible with the shape argument "
                         f"{tuple(dims)}")
