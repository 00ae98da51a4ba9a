"""Exceptions raised by jaxish."""


class ConcretizationError(TypeError):
    """A traced value was used where Python needs a concrete one (``if x > 0:``)."""


class EscapedTracerError(RuntimeError):
    """A tracer was used after the trace that created it ended."""


class CacheWarning(UserWarning):
    """A damaged or foreign file in the compile cache was ignored and rebuilt."""


class DevicePlacementError(RuntimeError):
    """An op's inputs live on devices it cannot combine (soft device placement off)."""


class OpError(Exception):
    """An operation failed on the values it was given (TensorFlow's ``tf.errors.OpError``)."""


class InvalidArgumentError(OpError, ValueError):
    """An eager operation got invalid arguments: incompatible shapes or dtypes, an axis or index out of range
    (TensorFlow's ``tf.errors.InvalidArgumentError``).

    TensorFlow raises it when an op runs eagerly and ``ValueError``/``TypeError`` when a graph is built; jaxish
    raises it eagerly, as a subclass of the ``ValueError``, ``TypeError`` or ``IndexError`` it raises while
    tracing, so ``except ValueError`` and ``except InvalidArgumentError`` both catch it.
    """


class _InvalidArgumentTypeError(InvalidArgumentError, TypeError):
    def __reduce__(self):  # (pickle finds a class by its __qualname__, which names the ValueError one)
        return _rebuild, ("TypeError", self.args, self.__dict__)


class _InvalidArgumentIndexError(InvalidArgumentError, IndexError):
    def __reduce__(self):
        return _rebuild, ("IndexError", self.args, self.__dict__)


for _cls in (_InvalidArgumentTypeError, _InvalidArgumentIndexError):
    _cls.__name__ = _cls.__qualname__ = "InvalidArgumentError"  # what a traceback shows


def _rebuild(base: str, args: tuple, state: dict):
    """An unpickled InvalidArgumentError that subclasses ``base`` ('TypeError' or 'IndexError')."""
    e = invalid_argument({"TypeError": TypeError, "IndexError": IndexError}[base])(*args)
    e.__dict__.update(state)
    return e

_INVALID_ARGUMENT = {ValueError: InvalidArgumentError, TypeError: _InvalidArgumentTypeError,
                     IndexError: _InvalidArgumentIndexError}
INVALID_ARGUMENT_TYPES = tuple(_INVALID_ARGUMENT.values())


def invalid_argument(cls: type) -> type:
    """The InvalidArgumentError class raised eagerly in place of ``cls`` (exactly ValueError, TypeError or
    IndexError, or one of these classes already); any other class as it is."""
    if cls in INVALID_ARGUMENT_TYPES:
        return cls
    return _INVALID_ARGUMENT.get(cls, cls)
