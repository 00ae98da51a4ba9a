"""Exceptions raised by jaxish."""


class ConcretizationError(TypeError):
    """A traced value was used where Python needs a concrete one (``if x > 0:``)."""


class EscapedTracerError(RuntimeError):
    """A tracer was used after the trace that created it ended."""


class CacheWarning(UserWarning):
    """A damaged or foreign file in the compile cache was ignored and rebuilt."""


class DevicePlacementError(RuntimeError):
    """An op's inputs live on devices it cannot combine (soft device placement off)."""
