"""The optimizer base class: TensorFlow-style ``apply_gradients`` on Variables, optax-style ``init``/``update``
on pytrees, one update rule per algorithm shared by both."""
from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

import numpy as np

from .. import ops as _ops
from ..core import Tensor, is_variable, read_variable
from ..tree_util import tree_flatten, tree_map, tree_unflatten

__all__ = ["Optimizer", "OptState", "apply_updates"]


class OptState(NamedTuple):
    """The state of the functional API: ``count`` (int64, updates applied so far) and ``slots`` (slot name ->
    a pytree shaped like the parameters). A pytree, so it passes in and out of ``@trace``d functions."""

    count: Any
    slots: dict


def apply_updates(params: Any, updates: Any) -> Any:
    """``params + updates`` leaf by leaf (each update cast to its parameter's dtype), as ``optax.apply_updates``.

    A Variable leaf is read, not assigned: the result holds new Tensors (use
    ``apply_gradients`` to update Variables in place)."""
    def add(p, u):
        p = read_variable(p) if is_variable(p) else p
        return p if u is None else _ops.add(p, _ops.cast(u, p.dtype))
    return tree_map(add, params, updates)


def _value(x) -> Tensor:
    if is_variable(x):
        return read_variable(x)
    from ..creation import convert_to_tensor
    return convert_to_tensor(x)


class Optimizer:
    """Base class. Subclasses set ``slot_names`` and implement :meth:`_rule`.

    Two ways to use an optimizer (both run the same update formula):

    * TensorFlow-style, on Variables: ``opt.apply_gradients([(grad, variable), ...])``, eagerly or inside
      ``@trace`` (the iteration counter, the learning rate and the slots -- ``opt.get_slot(var, 'momentum')``
      -- are Variables, so a traced training step compiles with its update). A Variable's slots are created,
      as zeros, the first time it is updated; inside ``@trace`` that must be on the function's first trace
      (where Variables may be created): call the step once with its first signature before others, or call
      :meth:`build` with the variables first.
    * functional, on pytrees: ``state = opt.init(params)``; ``updates, state = opt.update(grads, state, params)``;
      ``params = jaxish.optimizers.apply_updates(params, updates)`` (as optax). The learning rate of this API is
      baked into traced graphs when it is a number; use a schedule for one that changes.

    ``learning_rate`` is a number or a schedule: any callable of the step (updates applied so far, an int64
    tensor) returning the rate (``jaxish.optimizers.schedules``).
    """

    slot_names: tuple = ()

    def __init__(self, learning_rate: float | Callable = 0.001, name: str = "Optimizer"):
        from ..variables import Variable
        self.name = name
        if callable(learning_rate):
            self._schedule, self._lr_var = learning_rate, None
        else:
            self._schedule = None
            self._lr_var = Variable(np.float64(_check_rate(name, learning_rate)), trainable=False,
                                    name=f"{name}/learning_rate")
        self.iterations = Variable(np.int64(0), trainable=False, name=f"{name}/iterations")
        self._slots: dict = {}  # id(variable) -> (variable, {slot name: Variable})

    # -- hyperparameters --
    @property
    def learning_rate(self):
        """The learning rate: a float64 Variable (cast to each parameter's dtype; assign to it, or to this property, to
        change it, also in compiled steps), or the schedule."""
        return self._schedule if self._schedule is not None else self._lr_var

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if self._schedule is not None or callable(value):
            raise TypeError(f"{self.name}: the learning rate can be changed only when it is a number from the start")
        self._lr_var.assign(np.float64(_check_rate(self.name, value)))

    def _rate(self, step):
        """The learning rate at ``step`` (updates so far)."""
        if self._schedule is not None:
            return self._schedule(step)
        return read_variable(self._lr_var)

    def _functional_rate(self, step):
        if self._schedule is not None:
            return self._schedule(step)
        return float(self._lr_var._value)  # a number: baked into a traced graph

    # -- the update rule --
    def _rule(self, g: Tensor, p: Tensor, slots: dict, t: Tensor, lr) -> tuple:
        """``(update, new slots)`` for gradient ``g`` of parameter ``p`` at step ``t`` (1 for the first update,
        in ``p``'s dtype) with learning rate ``lr``; the new parameter is ``p + update``."""
        raise NotImplementedError

    def _update_one(self, g, p, slots: dict, count, lr, where: str) -> tuple:
        if g.aval.shape != p.aval.shape:
            raise ValueError(f"{self.name}: the gradient of {where} has shape {tuple(g.aval.shape)}, the parameter "
                             f"{tuple(p.aval.shape)}")
        if not p.dtype.is_floating:
            raise TypeError(f"{self.name}: {where} has dtype {p.dtype.name}; only floating-point parameters can be "
                            f"optimized")
        if g.dtype is not p.dtype:
            raise TypeError(f"{self.name}: the gradient of {where} has dtype {g.dtype.name}, the parameter "
                            f"{p.dtype.name}")
        if isinstance(lr, Tensor):
            lr = _ops.cast(lr, p.dtype)
        t = _ops.cast(_ops.add(count, 1), p.dtype)
        return self._rule(g, p, slots, t, lr)

    # -- TensorFlow style --
    def build(self, var_list: Iterable) -> None:
        """Create the slots of these Variables now (eagerly), instead of on their first update."""
        for v in var_list:
            self._slots_of(v)

    def _slots_of(self, var) -> dict:
        entry = self._slots.get(id(var))
        if entry is None or entry[0] is not var:
            from ..core import current_trace
            from ..variables import Variable
            trace = current_trace()
            if trace is not None and getattr(trace, "is_retrace", False):
                raise ValueError(f"{self.name}: the slots of variable {var.name!r} would be created while retracing "
                                 f"{trace.name}, where no Variable can be created; create them before: "
                                 f"opt.build([...the variables...]), or update the variable on the first trace")
            value = var._value
            zeros = np.zeros(value.aval.shape, value.dtype.np)
            slots = {s: Variable(zeros, trainable=False, name=f"{var._name}/{s}") for s in self.slot_names}
            entry = self._slots[id(var)] = (var, slots)
        return entry[1]

    def get_slot(self, var, slot_name: str):
        """The slot Variable ``slot_name`` (one of ``slot_names``) of ``var``."""
        if slot_name not in self.slot_names:
            raise KeyError(f"{self.name}: no slot {slot_name!r}; this optimizer's slots are {list(self.slot_names)}")
        entry = self._slots.get(id(var))
        if entry is None or entry[0] is not var:
            raise KeyError(f"{self.name}: {var.name!r} has no slots yet (they are created on its first update)")
        return entry[1][slot_name]

    @property
    def variables(self) -> list:
        """Every Variable of the optimizer: the iteration counter, the learning rate, then each slot."""
        out = [self.iterations] + ([self._lr_var] if self._lr_var is not None else [])
        for _, slots in self._slots.values():
            out += list(slots.values())
        return out

    def apply_gradients(self, grads_and_vars: Iterable, name: str | None = None):
        """Update each Variable from its gradient (pairs ``(gradient, variable)``; a ``None`` gradient is skipped,
        as in Keras) and advance ``iterations`` by one. Returns ``iterations``."""
        pairs = []
        for pair in grads_and_vars:
            try:
                g, v = pair
            except (TypeError, ValueError):
                raise TypeError(f"{self.name}.apply_gradients: expected (gradient, variable) pairs, got "
                                f"{pair!r:.80}") from None
            if not is_variable(v):
                raise TypeError(f"{self.name}.apply_gradients: the second element of each pair must be a Variable, "
                                f"got {type(v).__name__}")
            if g is not None:
                pairs.append((g, v))
        step = read_variable(self.iterations)
        lr = self._rate(step)
        for g, v in pairs:
            slots = self._slots_of(v)
            update, new = self._update_one(_value(g), read_variable(v), {k: read_variable(s) for k, s in slots.items()},
                                           step, lr, f"variable {v.name!r}")
            for k, val in new.items():
                slots[k].assign(val)
            v.assign(_ops.add(read_variable(v), update))
        self.iterations.assign_add(1)
        return self.iterations

    def minimize(self, loss: Callable, var_list: Iterable):
        """Compute the gradients of ``loss()`` (a callable) with respect to ``var_list`` with a GradientTape and
        apply them."""
        from ..tape import GradientTape
        var_list = list(var_list)
        with GradientTape() as tape:
            value = loss()
        return self.apply_gradients(zip(tape.gradient(value, var_list), var_list))

    # -- functional (optax style) --
    def init(self, params: Any) -> OptState:
        """The initial state for a pytree of parameters: zero slots shaped like ``params``, count 0."""
        from ..creation import zeros_like
        slots = {s: tree_map(lambda p: zeros_like(_value(p)), params) for s in self.slot_names}
        return OptState(Tensor(np.array(0, dtype=np.int64)), slots)

    def update(self, grads: Any, state: OptState, params: Any = None) -> tuple:
        """``(updates, new_state)`` for a pytree of gradients shaped like the parameters; add the updates to the
        parameters with :func:`apply_updates`. ``params`` is needed by rules that read the parameters (AdamW)."""
        g_leaves, tree = tree_flatten(grads)
        p_leaves = [None] * len(g_leaves) if params is None else tree.flatten_up_to(params)
        slot_leaves = {k: tree.flatten_up_to(state.slots[k]) for k in self.slot_names}
        count = state.count
        lr = self._functional_rate(count)
        updates = []
        new_slots = {k: [] for k in self.slot_names}
        paths = ["".join(f"[{k!r}]" for k in path) for path in tree.paths()]
        for i, g in enumerate(g_leaves):
            g = _value(g)
            p = _value(p_leaves[i]) if p_leaves[i] is not None else _ParamStandIn(g)
            u, new = self._update_one(g, p, {k: _value(slot_leaves[k][i]) for k in self.slot_names}, count, lr,
                                      f"leaf {paths[i] or '<root>'}")
            updates.append(u)
            for k in self.slot_names:
                new_slots[k].append(new[k])
        slots = {k: tree_unflatten(tree, v) for k, v in new_slots.items()}
        return tree_unflatten(tree, updates), OptState(_ops.add(count, np.int64(1)), slots)

    def __repr__(self) -> str:
        return f"<jaxish.optimizers.{type(self).__name__} {self.get_config()}>"

    def get_config(self) -> dict:
        """The hyperparameters (Keras's ``get_config``)."""
        lr = self._schedule if self._schedule is not None else float(self._lr_var.numpy())
        return {"learning_rate": lr, **{k: getattr(self, k) for k in self._config_names}}

    _config_names: tuple = ()


class _ParamStandIn:
    """What ``update`` without ``params`` passes as the parameter: the gradient's shape and dtype; reading its
    value is an error naming the rule that needs it."""

    def __init__(self, g):
        self.aval, self.dtype = g.aval, g.dtype


def needs_params(p, who: str) -> Tensor:
    """``p``, checked to be a parameter (not the stand-in of ``update`` without ``params``)."""
    if isinstance(p, _ParamStandIn):
        raise ValueError(f"{who}.update: this rule reads the parameters; pass them: opt.update(grads, state, params)")
    return p


def _check_rate(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: learning_rate must be a number or a schedule (a callable of the step), got "
                        f"{value!r:.60}") from None
    if not v >= 0 or v == float("inf"):
        raise ValueError(f"{name}: learning_rate must be a finite non-negative number, got {value!r}")
    return v
