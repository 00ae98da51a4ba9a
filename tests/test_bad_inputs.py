"""The bad-input catalogue: every public function, called with wrong types, shapes, dtypes, axes, ranks and values.

Each entry asserts the documented exception type (TypeError for a wrong type or dtype, ValueError for a wrong
shape, rank, axis or value, IndexError for an index), that the message names the op, and that it names the
operands involved (their shape, dtype or value). No message may show Numba, optree or Python internals.
Entries that make sense inside a traced function are run again under ``@trace`` on both backends.

``test_every_public_function_has_an_entry`` fails when a public function is added without an entry here.
"""
from __future__ import annotations

import inspect
import os
import types
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import jaxish as tf

F23 = tf.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
F4 = tf.constant(np.arange(4, dtype=np.float32))
FS = tf.constant(2.0)
I23 = tf.constant(np.arange(6, dtype=np.int32).reshape(2, 3))
I8 = tf.constant(np.arange(3, dtype=np.int8))
B23 = tf.constant(np.arange(6).reshape(2, 3) > 2)
B4 = tf.constant(np.arange(4) > 1)

FORBIDDEN = ("numba", "optree", "pytreespec", "keyerror", "list index", "traceback", "nopython", "invalid literal",
             "object of type", "not supported between instances", "unsupported operand type")


@dataclass(frozen=True)
class Bad:
    """``call(*args)`` must raise ``exc`` with a message that contains ``op`` and every one of ``words``."""
    call: Callable
    args: tuple
    exc: type
    words: tuple = ()
    traced: bool = True     # also run as ``trace(call)(*args)`` (the args become traced values)
    op: str | None = None   # the op the message must name; defaults to the entry's name (without its module)
    label: str = ""
    xfail: str = ""         # a known failure in a file this catalogue's author does not own: who fixes it


def bad(call, *args, exc=ValueError, words=(), traced=True, op=None, label="", xfail=""):
    return Bad(call, args, exc, tuple(words), traced, op, label, xfail)




# -- the catalogue ---------------------------------------------------------------------------------------
CATALOGUE: dict[str, list[Bad]] = {}

_BINARY = ["add", "subtract", "multiply", "divide", "floordiv", "mod", "maximum", "minimum", "pow", "equal",
           "not_equal", "less", "less_equal", "greater", "greater_equal"]
for _name in _BINARY:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = [
        bad(lambda x, y, f=_f: f(x, y), F23, F4, words=("(2, 3)", "(4,)"), label="shapes"),
        bad(lambda x, f=_f: f(x, "a"), F23, exc=TypeError, words=("'a'",), label="string"),
        bad(lambda x, f=_f: f(x, None), F23, exc=TypeError, words=("None",), label="None"),
        bad(lambda x, f=_f: f(x, [[1.0], [2.0, 3.0]]), F23, words=("ragged",), label="ragged"),
        bad(lambda x, f=_f: f(x, 300), I8, words=("300", "int8"), label="overflow"),
    ]
CATALOGUE["math.floormod"] = [bad(lambda x, y: tf.math.floormod(x, y), F23, F4, words=("(2, 3)", "(4,)"),
                                  op="mod")]
for _name in ["pow", "maximum", "minimum", "subtract", "multiply", "floordiv", "mod"]:
    CATALOGUE[_name].append(bad(lambda x, y, f=getattr(tf, _name): f(x, y), B23, B23, exc=TypeError,
                                words=("bool", "(2, 3)"), label="bool"))
CATALOGUE["divide"].append(bad(lambda x: tf.divide(x, x), B23, exc=TypeError, words=("bool",), label="bool"))

for _name in ["logical_and", "logical_or", "logical_xor"]:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = [
        bad(lambda x, y, f=_f: f(x, y), F23, F23, exc=TypeError, words=("float32", "(2, 3)"), label="dtype"),
        bad(lambda x, y, f=_f: f(x, y), B23, B4, words=("(2, 3)", "(4,)"), label="shapes"),
        bad(lambda x, f=_f: f(x, "a"), B23, exc=TypeError, words=("'a'",), label="string"),
    ]
CATALOGUE["logical_not"] = [bad(tf.logical_not, F23, exc=TypeError, words=("float32", "(2, 3)")),
                            bad(lambda: tf.logical_not("a"), exc=TypeError, words=("'a'",))]

_FLOAT_UNARY = ["exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "sqrt", "rsqrt", "erf", "sigmoid", "floor",
                "softplus", "is_finite"]
for _name in _FLOAT_UNARY:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = [bad(_f, I23, exc=TypeError, words=("int32",), label="int"),
                        bad(_f, B23, exc=TypeError, words=("bool",), label="bool"),
                        bad(lambda f=_f: f("a"), exc=TypeError, words=("'a'",), label="string"),
                        bad(lambda f=_f: f(None), exc=TypeError, words=("None",), label="None")]
for _name in ["negative", "abs", "sign", "square", "relu"]:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = [bad(_f, B23, exc=TypeError, words=("bool", "(2, 3)"), label="bool"),
                        bad(lambda f=_f: f("a"), exc=TypeError, words=("'a'",), label="string")]
CATALOGUE["stop_gradient"] = [bad(lambda: tf.stop_gradient("a"), exc=TypeError, words=("'a'",))]
CATALOGUE["identity"] = [bad(lambda: tf.identity(None), exc=TypeError, words=("None",))]
CATALOGUE["cast"] = [bad(lambda x: tf.cast(x, "foo"), F23, exc=TypeError, words=("'foo'",)),
                     bad(lambda x: tf.cast(x, np.complex64), F23, exc=TypeError, words=("complex64",)),
                     bad(lambda: tf.cast("a", tf.float32), exc=TypeError, words=("'a'",))]
CATALOGUE["where"] = [
    bad(lambda c, x, y: tf.where(c, x, y), F23, F23, F23, exc=TypeError, words=("float32",), label="cond dtype"),
    bad(lambda c, x, y: tf.where(c, x, y), B23, F23, F4, words=("(2, 3)", "(4,)"), label="shapes"),
    bad(lambda c, x: tf.where(c, x), B23, F23, words=("x and y",), label="one of x, y"),
]
CATALOGUE["clip_by_value"] = [
    bad(lambda x, lo: tf.clip_by_value(x, lo, 1.0), F23, F4, words=("(2, 3)", "(4,)"), label="shapes"),
    bad(lambda x: tf.clip_by_value(x, "a", 1.0), F23, exc=TypeError, words=("'a'",), label="string"),
]

_AXIS_CASES = [(1.5, TypeError, ("1.5",)), ("a", TypeError, ("'a'",)), (True, TypeError, ("True",)),
               (2, ValueError, ("axis 2", "rank 2")), (-3, ValueError, ("axis -3", "rank 2"))]


def _axis_entries(f, x, *, keyword="axis", **kw):
    return [bad(lambda x, a=a: f(x, **{keyword: a}, **kw), x, exc=e, words=w, label=f"axis={a!r}")
            for a, e, w in _AXIS_CASES]


for _name, _x, _bad_dtype in [("reduce_sum", F23, B23), ("reduce_max", F23, None), ("reduce_min", F23, None),
                              ("reduce_prod", F23, B23), ("reduce_mean", F23, B23), ("reduce_all", B23, F23),
                              ("reduce_any", B23, I23), ("reduce_logsumexp", F23, I23)]:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = _axis_entries(_f, _x) + [
        bad(lambda x, f=_f: f(x, axis=(0, -2)), _x, words=("duplicate", "[0, -2]"), label="duplicate axes"),
        bad(lambda x, f=_f: f(x, axis=[0, 2.5]), _x, exc=TypeError, words=("2.5",), label="axis list"),
        bad(lambda f=_f: f("a"), exc=TypeError, words=("'a'",), label="string"),
    ]
    if _bad_dtype is not None:
        CATALOGUE[_name].append(bad(_f, _bad_dtype, exc=TypeError, words=(_bad_dtype.dtype.name,), label="dtype"))
for _name in ["argmax", "argmin"]:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = _axis_entries(_f, F23) + [
        bad(lambda x, f=_f: f(x, output_type=tf.float32), F23, exc=TypeError, words=("float32",), label="out"),
        bad(lambda x, f=_f: f(x, output_type="foo"), F23, exc=TypeError, words=("'foo'",), label="out name"),
    ]
for _name in ["softmax", "log_softmax"]:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = _axis_entries(_f, F23) + [bad(_f, I23, exc=TypeError, words=("int32",), label="dtype")]

CATALOGUE["matmul"] = [
    bad(tf.matmul, F23, F23, words=("(2, 3)", "3 != 2"), label="inner"),
    bad(tf.matmul, F23, FS, words=("(2, 3)", "()"), label="scalar"),
    bad(tf.matmul, B23, B23, exc=TypeError, words=("bool",), label="bool"),
    bad(lambda x: tf.matmul(x, "a"), F23, exc=TypeError, words=("'a'",), label="string"),
    bad(lambda x, y: tf.matmul(tf.stack([x, x]), tf.reshape(y, (3, 3, 1))),
        F23, tf.zeros((9,)), words=("(2,)", "(3,)"), label="batch"),
]
CATALOGUE["linalg.matrix_transpose"] = [bad(tf.linalg.matrix_transpose, F4, words=("(4,)", "rank"))]
CATALOGUE["reshape"] = [
    bad(lambda x: tf.reshape(x, (4, 2)), F23, words=("(2, 3)", "(4, 2)"), label="size"),
    bad(lambda x: tf.reshape(x, (-2, -2)), F23, words=("(2, 3)", "[-2, -2]"), label="-2"),
    bad(lambda x: tf.reshape(x, (-1, -1)), F23, words=("(2, 3)", "[-1, -1]"), label="two -1"),
    bad(lambda x: tf.reshape(x, (-1, 4)), F23, words=("(2, 3)", "[-1, 4]"), label="-1 indivisible"),
    bad(lambda x: tf.reshape(x, (1.5, 4)), F23, exc=TypeError, words=("1.5",), label="float"),
    bad(lambda x: tf.reshape(x, "ab"), F23, exc=TypeError, words=("'ab'",), label="string"),
    bad(lambda x: tf.reshape(x, None), F23, exc=TypeError, words=("None",), label="None"),
]
CATALOGUE["transpose"] = [
    bad(lambda x: tf.transpose(x, (0, 3)), F23, words=("[0, 3]", "(2, 3)"), label="out of range"),
    bad(lambda x: tf.transpose(x, (0, -3)), F23, words=("[0, -3]", "(2, 3)"), label="negative"),
    bad(lambda x: tf.transpose(x, (1, 1)), F23, words=("[1, 1]", "(2, 3)"), label="duplicate"),
    bad(lambda x: tf.transpose(x, (1,)), F23, words=("[1]", "(2, 3)"), label="length"),
    bad(lambda x: tf.transpose(x, (1.5, 0)), F23, exc=TypeError, words=("1.5",), label="float"),
]
CATALOGUE["expand_dims"] = _axis_entries(tf.expand_dims, F23)[:3] + [
    bad(lambda x: tf.expand_dims(x, 3), F23, words=("axis 3", "rank 2")),
    bad(lambda x: tf.expand_dims(x, -4), F23, words=("axis -4", "rank 2"))]
CATALOGUE["squeeze"] = _axis_entries(tf.squeeze, F23) + [
    bad(lambda x: tf.squeeze(x, 0), F23, words=("axis 0", "size 2", "(2, 3)"), label="not 1")]
CATALOGUE["broadcast_to"] = [
    bad(lambda x: tf.broadcast_to(x, (4, 3)), F23, words=("(2, 3)", "(4, 3)"), label="shapes"),
    bad(lambda x: tf.broadcast_to(x, (3,)), F23, words=("(2, 3)", "(3,)"), label="rank"),
    bad(lambda x: tf.broadcast_to(x, (-1, 3)), F23, words=("(2, 3)", "(-1, 3)"), label="negative"),
    bad(lambda x: tf.broadcast_to(x, "a"), F23, exc=TypeError, words=("'a'",), label="string"),
]
CATALOGUE["concat"] = [
    bad(lambda: tf.concat([], 0), words=("empty",), label="empty"),
    bad(lambda x, y: tf.concat([x, y], 0), F23, F4, words=("(2, 3)", "(4,)"), label="shapes"),
    bad(lambda x: tf.concat([x, x], 2), F23, words=("axis 2", "rank 2"), label="axis"),
    bad(lambda x: tf.concat([x, x], 1.5), F23, exc=TypeError, words=("1.5",), label="float axis"),
    bad(lambda x: tf.concat([x, x], 0), FS, words=("scalars", "()"), label="scalars"),
    bad(lambda x: tf.concat(x, 0), F23, exc=TypeError, words=("Tensor",), label="not a list"),
]
CATALOGUE["stack"] = [
    bad(lambda: tf.stack([]), words=("empty",), label="empty"),
    bad(lambda x, y: tf.stack([x, y]), F23, F4, words=("(2, 3)", "(4,)"), label="shapes"),
    bad(lambda x: tf.stack([x, x], axis=3), F23, words=("axis 3", "(2, 3)"), label="axis"),
    bad(lambda x: tf.stack([x, x], axis=1.5), F23, exc=TypeError, words=("1.5",), label="float axis"),
    bad(lambda x: tf.stack(x), F23, exc=TypeError, words=("Tensor",), label="not a list"),
]
CATALOGUE["add_n"] = [
    bad(lambda: tf.add_n([]), words=("empty",), label="empty"),
    bad(lambda x, y: tf.add_n([x, y]), F23, F4, words=("(2, 3)", "(4,)"), label="shapes"),
    bad(lambda x, y: tf.add_n([x, y]), F23, tf.ones((1, 3)), words=("(2, 3)", "(1, 3)"), label="broadcast"),
    bad(lambda x: tf.add_n(x), F23, exc=TypeError, words=("Tensor",), label="not a list"),
]
CATALOGUE["unstack"] = _axis_entries(tf.unstack, F23) + [
    bad(tf.unstack, FS, words=("scalar", "()"), label="scalar"),
    bad(lambda x: tf.unstack(x, num=3), F23, words=("num=3", "(2, 3)"), label="num"),
]
CATALOGUE["tile"] = [
    bad(lambda x: tf.tile(x, [-1, 2]), F23, words=("[-1, 2]", "(2, 3)"), label="negative"),
    bad(lambda x: tf.tile(x, [2]), F23, words=("[2]", "(2, 3)"), label="length"),
    bad(lambda x: tf.tile(x, [1.5, 2]), F23, exc=TypeError, words=("1.5",), label="float"),
]
CATALOGUE["gather"] = _axis_entries(lambda x, axis: tf.gather(x, [0], axis=axis), F23) + [
    bad(tf.gather, F23, F4, exc=TypeError, words=("float32", "(4,)"), label="float indices"),
    bad(lambda x: tf.gather(x, [5]), F23, exc=IndexError, words=("index 5", "axis 0", "size 2"), label="range"),
    bad(lambda x: tf.gather(x, [0, -3]), F23, exc=IndexError, words=("index -3", "size 2"), label="negative"),
    bad(lambda x: tf.gather(x, [0]), FS, words=("scalar", "()"), label="scalar params"),
]
CATALOGUE["one_hot"] = [
    bad(lambda i: tf.one_hot(i, 3), F4, exc=TypeError, words=("float32",), label="float indices"),
    bad(lambda i: tf.one_hot(i, -1), I23, words=("depth", "-1"), label="depth -1"),
    bad(lambda i: tf.one_hot(i, 2.5), I23, exc=TypeError, words=("depth", "2.5"), label="depth float"),
    bad(lambda i: tf.one_hot(i, 3, axis=5), I23, words=("axis", "5", "(2, 3)"), label="axis 5"),
    bad(lambda i: tf.one_hot(i, 3, axis=-2), I23, words=("axis", "-2"), label="axis -2"),
    bad(lambda i: tf.one_hot(i, 3, axis=1.5), I23, exc=TypeError, words=("1.5",), label="axis float"),
    bad(lambda i: tf.one_hot(i, 3, dtype="foo"), I23, exc=TypeError, words=("'foo'",), label="dtype"),
]
for _name in ["shape", "size"]:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = [bad(lambda x, f=_f: f(x, out_type=tf.float32), F23, exc=TypeError, words=("float32",)),
                        bad(lambda f=_f: f("a"), exc=TypeError, words=("'a'",), traced=False)]
CATALOGUE["rank"] = [bad(lambda: tf.rank(None), exc=TypeError, words=("None",))]

# -- creation ----------------------------------------------------------------------------------------------
CATALOGUE["constant"] = [
    bad(lambda: tf.constant("a"), exc=TypeError, words=("'a'",), label="string"),
    bad(lambda: tf.constant(None), exc=TypeError, words=("None",), label="None"),
    bad(lambda: tf.constant([[1], [2, 3]]), words=("ragged",), label="ragged"),
    bad(lambda: tf.constant([1, 2], shape=(3,)), words=("(3,)", "2 values"), label="shape"),
    bad(lambda: tf.constant(1, shape=(1.5,)), exc=TypeError, words=("1.5",), label="float shape"),
    bad(lambda: tf.constant(300, dtype=tf.int8), words=("int8",), label="range"),
    bad(lambda: tf.constant(1.5, dtype=tf.int32), exc=TypeError, words=("1.5", "int32"), label="float to int"),
    bad(lambda: tf.constant(1, dtype="foo"), exc=TypeError, words=("'foo'",), label="dtype"),
    bad(lambda: tf.constant(object()), exc=TypeError, words=("object",), label="object"),
]
CATALOGUE["convert_to_tensor"] = [
    bad(lambda x: tf.convert_to_tensor(x, dtype=tf.int32), F23, exc=TypeError, words=("float32", "int32")),
    bad(lambda: tf.convert_to_tensor("a"), exc=TypeError, words=("'a'",)),
]
for _name in ["zeros", "ones"]:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = [bad(lambda f=_f: f((-1, 2)), words=("(-1, 2)",), label="negative"),
                        bad(lambda f=_f: f((1.5,)), exc=TypeError, words=("1.5",), label="float"),
                        bad(lambda f=_f: f("a"), exc=TypeError, words=("'a'",), label="string"),
                        bad(lambda f=_f: f((2,), dtype="foo"), exc=TypeError, words=("'foo'",), label="dtype")]
for _name in ["zeros_like", "ones_like"]:
    _f = getattr(tf, _name)
    CATALOGUE[_name] = [bad(lambda f=_f: f("a"), exc=TypeError, words=("'a'",), label="string"),
                        bad(lambda x, f=_f: f(x, dtype="foo"), F23, exc=TypeError, words=("'foo'",), label="dtype")]
CATALOGUE["fill"] = [bad(lambda x: tf.fill((2,), x), F23, words=("(2, 3)",), traced=False, label="value"),
                     bad(lambda: tf.fill((-1,), 1.0), words=("(-1,)",), label="negative"),
                     bad(lambda: tf.fill((2,), "a"), exc=TypeError, words=("'a'",), label="string")]
CATALOGUE["eye"] = [bad(lambda: tf.eye(-1), words=("-1",), label="negative"),
                    bad(lambda: tf.eye(2.5), exc=TypeError, words=("2.5",), label="float"),
                    bad(lambda: tf.eye(2, batch_shape=(-1,)), words=("-1",), label="batch"),
                    bad(lambda: tf.eye(2, dtype="foo"), exc=TypeError, words=("'foo'",), label="dtype")]
CATALOGUE["range"] = [bad(lambda: tf.range(1, 5, 0), words=("delta",), label="delta 0"),
                      bad(lambda: tf.range("a"), exc=TypeError, words=("'a'",), label="string"),
                      bad(lambda: tf.range(3, dtype="foo"), exc=TypeError, words=("'foo'",), label="dtype")]
CATALOGUE["linspace"] = [bad(lambda: tf.linspace(0.0, 1.0, -1), words=("-1",), label="negative num"),
                         bad(lambda: tf.linspace(0.0, 1.0, 2.5), exc=TypeError, words=("2.5",), label="float num"),
                         bad(lambda: tf.linspace("a", 1.0, 3), exc=TypeError, words=("'a'",), label="string"),
                         bad(lambda: tf.linspace([0.0, 1.0], [1.0, 2.0, 3.0], 3), words=("(2,)", "(3,)"),
                             label="shapes")]
CATALOGUE["as_dtype"] = [bad(lambda: tf.as_dtype("foo"), exc=TypeError, words=("'foo'",), op="dtype"),
                         bad(lambda: tf.as_dtype(np.complex64), exc=TypeError, words=("complex64",), op="dtype"),
                         bad(lambda: tf.as_dtype(5), exc=TypeError, words=("5",), op="dtype")]
CATALOGUE["device"] = [bad(lambda: tf.device("/tpu:0").__enter__(), words=("'/tpu:0'",), traced=False),
                       bad(lambda: tf.device(5).__enter__(), exc=TypeError, words=("5",), traced=False)]

# -- random --------------------------------------------------------------------------------------------------
for _name in ["uniform", "normal"]:
    _f = getattr(tf.random, _name)
    CATALOGUE[f"random.{_name}"] = [
        bad(lambda f=_f: f((-1,)), words=("(-1,)",), label="negative"),
        bad(lambda f=_f: f((1.5,)), exc=TypeError, words=("1.5",), label="float"),
        bad(lambda f=_f: f("a"), exc=TypeError, words=("'a'",), label="string"),
        bad(lambda f=_f: f((2,), dtype=tf.bool), exc=TypeError, words=("bool",), label="dtype"),
    ]
CATALOGUE["random.uniform"].append(bad(lambda: tf.random.uniform((2,), dtype=tf.int32), words=("maxval",),
                                       label="int without maxval"))
CATALOGUE["random.set_seed"] = [bad(lambda: tf.random.set_seed("a"), exc=TypeError, words=("'a'",), traced=False),
                                bad(lambda: tf.random.set_seed(1.5), exc=TypeError, words=("1.5",), traced=False)]

# -- tracing and autodiff --------------------------------------------------------------------------------------
CATALOGUE["trace"] = [
    bad(lambda: tf.trace(5), exc=TypeError, words=("5",), traced=False, label="not callable"),
    bad(lambda: tf.trace(lambda x, n: x, static_argnums=2), words=("static_argnums=(2,)", "2 positional"),
        traced=False, label="argnums"),
    bad(lambda: tf.trace(lambda x, n: x, static_argnums=-3), words=("static_argnums=(-3,)",), traced=False,
        label="negative argnums"),
    bad(lambda: tf.trace(lambda x, n: x, static_argnames="m"), words=("static_argnames", "'m'"), traced=False,
        label="argnames"),
    bad(lambda: tf.trace(lambda x: x)("a"), exc=TypeError, words=("'a'",), traced=False, op="<lambda>",
        label="string argument"),
]
CATALOGUE["make_graph"] = [bad(lambda: tf.make_graph(lambda x: x)("a"), exc=TypeError, words=("'a'",),
                               traced=False, op="<lambda>")]
_SUM = tf.reduce_sum
CATALOGUE["grad"] = [
    bad(lambda x: tf.grad(lambda x: x * 2)(x), F23, exc=TypeError, words=("scalar", "(2, 3)"), label="output"),
    bad(lambda x: tf.grad(_SUM)(x), I23, exc=TypeError, words=("int32",), label="int input"),
    bad(lambda x: tf.grad(_SUM, argnums=3)(x), F23, words=("argnums", "3"), label="argnums"),
    bad(lambda: tf.grad(_SUM)("a"), exc=TypeError, words=("'a'",), traced=False, label="string"),
    bad(lambda: tf.grad(5), exc=TypeError, words=("5",), traced=False, label="not callable"),
]
CATALOGUE["value_and_grad"] = [
    bad(lambda x: tf.value_and_grad(lambda x: x * 2)(x), F23, exc=TypeError, words=("scalar", "(2, 3)"),
        op="grad"),
    bad(lambda: tf.value_and_grad(5), exc=TypeError, words=("5",), traced=False, label="not callable"),
]
CATALOGUE["jacobian"] = [
    bad(lambda x: tf.jacobian(lambda x: x * 2)(x), I23, exc=TypeError, words=("int32",), label="int input"),
    bad(lambda x: tf.jacobian(lambda x: x * 2, argnums=2)(x), F23, words=("argnums", "2"), label="argnums"),
]
CATALOGUE["hessian"] = [  # any output, as jax.hessian (out + in + in)
    bad(lambda x: tf.hessian(lambda x: x * 2)(x), I23, exc=TypeError, words=("int32",), label="int input"),
    bad(lambda x: tf.hessian(lambda x: x * 2, argnums=2)(x), F23, words=("argnums", "2"), label="argnums"),
    bad(lambda x: tf.hessian(lambda x: x * 2, has_aux=True)(x), F23, exc=TypeError, words=("has_aux", "pair"),
        label="has_aux without a pair"),
]
CATALOGUE["jacrev"] = [
    bad(lambda x: tf.jacrev(lambda x: x * 2)(x), I23, exc=TypeError, words=("int32",), op="jacobian",
        label="int input"),
]
CATALOGUE["jacfwd"] = [
    bad(lambda x: tf.jacfwd(lambda x: x * 2)(x), I23, exc=TypeError, words=("int32",), label="int input"),
    bad(lambda x: tf.jacfwd(lambda x: x * 2, argnums=2)(x), F23, words=("argnums", "2"), label="argnums"),
]
CATALOGUE["jvp"] = [
    bad(lambda: tf.jvp(5, (1.0,), (1.0,)), exc=TypeError, words=("5",), traced=False, label="not callable"),
    bad(lambda x: tf.jvp(lambda x: x * 2, (x,), (x, x)), F23, words=("1 primals", "2 tangents"), label="count"),
    bad(lambda x: tf.jvp(lambda x: x * 2, (x,), (tf.ones((3, 2)),)), F23, words=("tangent 0", "(3, 2)", "(2, 3)"),
        label="tangent shape"),
]
CATALOGUE["linearize"] = [
    bad(lambda: tf.linearize(5, 1.0), exc=TypeError, words=("5",), traced=False, label="not callable"),
    bad(lambda x: tf.linearize(lambda x: x * 2, x)[1](tf.ones((3, 2))), F23, words=("tangent 0", "(3, 2)"),
        label="tangent shape"),
]
CATALOGUE["vmap"] = [
    bad(lambda: tf.vmap(5), exc=TypeError, words=("5",), traced=False, label="not callable"),
    bad(lambda x: tf.vmap(lambda a, b: a + b)(x, tf.ones((3, 3))), F23,
        words=("different sizes", "size 2", "size 3"), label="sizes"),
    bad(lambda x: tf.vmap(lambda a: a, in_axes=2)(x), F23, words=("in_axes", "out of range", "(2, 3)"),
        label="axis"),
    bad(lambda x: tf.vmap(lambda a: a * 2, out_axes=None)(x), F23, words=("out_axes", "batched"), label="out_axes"),
]
CATALOGUE["custom_vjp"] = [
    bad(lambda x: tf.custom_vjp(lambda x: x * 2)(x), F23, exc=TypeError, words=("defvjp",), label="no rule"),
    bad(lambda x: tf.custom_vjp(lambda x: x * 2).defvjp(lambda x: x, lambda r, g: (g,))(x), F23, exc=TypeError,
        words=("fwd", "pair"), label="fwd output"),
]
CATALOGUE["custom_jvp"] = [
    bad(lambda x: tf.custom_jvp(lambda x: x * 2)(x), F23, exc=TypeError, words=("defjvp",), label="no rule"),
]
CATALOGUE["vjp"] = [
    bad(lambda: tf.vjp(5, 1.0), exc=TypeError, words=("5",), traced=False, label="not callable"),
    bad(lambda: tf.jacobian(5), exc=TypeError, words=("5",), traced=False, op="jacobian", label="not callable"),
    bad(lambda: tf.vjp(lambda x: x * 2, "a"), exc=TypeError, words=("'a'",), traced=False, label="string"),
    bad(lambda x, c: tf.vjp(lambda x: x * 2, x)[1](c), F23, F4, words=("(2, 3)", "(4,)"), label="cotangent"),
]


def _tape_twice(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = _SUM(x * x)
    tape.gradient(y, x)
    return tape.gradient(y, x)


def _tape_seed(x, seed):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    return tape.gradient(y, x, output_gradients=seed)


CATALOGUE["GradientTape"] = [
    bad(lambda: tf.GradientTape().watch("a"), exc=TypeError, words=("str",), traced=False,
        op="GradientTape.watch", label="watch"),
    bad(lambda x: tf.GradientTape().gradient(x, "a"), F23, exc=TypeError, words=("str",),
        op="GradientTape.gradient", label="sources"),
    bad(_tape_twice, F23, exc=RuntimeError, words=("non-persistent",), op="GradientTape", label="twice"),
    bad(_tape_seed, F23, F4, words=("(2, 3)", "(4,)"), op="GradientTape.gradient", label="output_gradients"),
]

# -- Variable --------------------------------------------------------------------------------------------------
V23 = tf.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="v")
CATALOGUE["Variable"] = [bad(lambda: tf.Variable(None), words=("initial_value",), traced=False),
                         bad(lambda: tf.Variable("a"), exc=TypeError, words=("'a'",), traced=False),
                         bad(lambda: tf.Variable([[1], [2, 3]]), words=("ragged",), traced=False),
                         bad(lambda: tf.Variable(1, dtype="foo"), exc=TypeError, words=("'foo'",), traced=False)]
for _name in ["assign", "assign_add", "assign_sub"]:
    CATALOGUE[f"Variable.{_name}"] = [
        bad(lambda x, n=_name: getattr(V23, n)(x), F4, words=("(4,)", "(2, 3)"), label="shape"),
        bad(lambda x, n=_name: getattr(V23, n)(x), I23, exc=TypeError, words=("int32", "float32"), label="dtype"),
        bad(lambda n=_name: getattr(V23, n)("a"), exc=TypeError, words=("'a'",), label="string"),
    ]

# -- Tensor (and Variable) operators and methods --------------------------------------------------------------
_OPERATOR_OPS = {"__add__": "add", "__radd__": "add", "__sub__": "subtract", "__rsub__": "subtract",
                 "__mul__": "multiply", "__rmul__": "multiply", "__truediv__": "divide", "__rtruediv__": "divide",
                 "__floordiv__": "floordiv", "__rfloordiv__": "floordiv", "__mod__": "mod", "__rmod__": "mod",
                 "__pow__": "pow", "__rpow__": "pow", "__lt__": "less", "__le__": "less_equal",
                 "__gt__": "greater", "__ge__": "greater_equal", "__eq__": "equal", "__ne__": "not_equal",
                 "__and__": "bitwise_and", "__rand__": "bitwise_and", "__or__": "bitwise_or",
                 "__ror__": "bitwise_or", "__xor__": "bitwise_xor", "__rxor__": "bitwise_xor"}
for _m, _op in _OPERATOR_OPS.items():
    _x, _other = (I23, tf.range(4)) if _op.startswith("bitwise") else (F23, F4)
    CATALOGUE[f"Tensor.{_m}"] = [
        bad(lambda x, y, m=_m: getattr(x, m)(y), _x, _other, words=("(2, 3)", "(4,)"), op=_op, label="shapes"),
        bad(lambda x, m=_m: getattr(x, m)("a"), _x, exc=TypeError, words=("'a'",), op=_op, label="string"),
    ]
    if _m in ("__eq__", "__ne__"):  # as TensorFlow's operators: shapes that do not broadcast compare unequal
        del CATALOGUE[f"Tensor.{_m}"][0]
for _m, _op in [("__and__", "bitwise_and"), ("__or__", "bitwise_or"), ("__xor__", "bitwise_xor")]:
    CATALOGUE[f"Tensor.{_m}"].append(bad(lambda x, m=_m: getattr(x, m)(x), F23, exc=TypeError,
                                         words=("float32",), op=_op, label="float"))
CATALOGUE["Tensor.__matmul__"] = [bad(lambda x, y: x @ y, F23, F23, words=("(2, 3)",), op="matmul")]
CATALOGUE["Tensor.__rmatmul__"] = [bad(lambda x, y: y.__rmatmul__(x), F23, F23, words=("(2, 3)",), op="matmul")]
CATALOGUE["Tensor.__neg__"] = [bad(lambda x: -x, B23, exc=TypeError, words=("bool",), op="negative")]
CATALOGUE["Tensor.__abs__"] = [bad(lambda x: abs(x), B23, exc=TypeError, words=("bool",), op="abs")]
CATALOGUE["Tensor.__invert__"] = [bad(lambda x: ~x, F23, exc=TypeError, words=("float32",), op="invert")]
CATALOGUE["Tensor.__getitem__"] = [
    bad(lambda x: x[0, 5], F23, exc=IndexError, words=("index 5", "axis 1", "size 3"), op="index", label="range"),
    bad(lambda x: x[0, 0, 0], F23, exc=IndexError, words=("too many", "(2, 3)"), op="indices", label="rank"),
    bad(lambda x: x[1.5], F23, exc=IndexError, words=("1.5",), op="index", label="float"),
    bad(lambda x: x["a"], F23, exc=IndexError, words=("'a'",), op="index", label="string"),
    bad(lambda x: x[np.array([True])], F23, exc=IndexError, words=("boolean index", "size of axis is 2"),
        op="index", label="mask shape"),
    bad(lambda x, i: x[i], F23, F4, exc=IndexError, words=("float32",), op="indices", label="float tensor"),
    bad(lambda x: x[..., ...], F23, exc=IndexError, words=("ellipsis",), op="index", label="two ellipses"),
]
# Python protocols: eager only (a traced value cannot become a Python number)
CATALOGUE["Tensor.__bool__"] = [bad(bool, F23, exc=ValueError, words=("(2, 3)",), op="bool()", traced=False)]
CATALOGUE["Tensor.__int__"] = [bad(int, F23, exc=TypeError, words=("(2, 3)",), op="int()", traced=False)]
CATALOGUE["Tensor.__float__"] = [bad(float, F23, exc=TypeError, words=("(2, 3)",), op="float()", traced=False)]
CATALOGUE["Tensor.__index__"] = [bad(lambda x: x.__index__(), F23, exc=TypeError, words=("float32",),
                                     op="index", traced=False)]
CATALOGUE["Tensor.__len__"] = [bad(len, FS, exc=TypeError, words=("scalar",), op="len()")]
CATALOGUE["Tensor.__iter__"] = [bad(iter, FS, exc=TypeError, words=("0-d",), op="iteration")]
CATALOGUE["Tensor.__format__"] = [bad(lambda x: format(x, "d"), F23, exc=TypeError, words=("'d'", "(2, 3)"),
                                      op="format", traced=False)]
CATALOGUE["Variable.__getitem__"] = [bad(lambda: V23[5], exc=IndexError, words=("index 5", "size 2"), op="index")]
CATALOGUE["Variable.__add__"] = [bad(lambda: V23 + F4, words=("(2, 3)", "(4,)"), op="add")]
CATALOGUE["Variable.__matmul__"] = [bad(lambda: V23 @ V23, words=("(2, 3)",), op="matmul")]
VS = tf.Variable(2.0)
CATALOGUE["Variable.__len__"] = [bad(lambda: len(VS), exc=TypeError, words=("scalar",), op="len()", traced=False)]
CATALOGUE["Variable.__iter__"] = [bad(lambda: iter(VS), exc=TypeError, words=("0-d",), op="iteration")]
for _m, _op in [("__bool__", "bool()"), ("__int__", "int()"), ("__float__", "float()")]:
    CATALOGUE[f"Variable.{_m}"] = [bad(lambda m=_m: getattr(V23, m)(), words=("(2, 3)",), op=_op, traced=False,
                                       exc=ValueError if _m == "__bool__" else TypeError)]
CATALOGUE["Variable.__index__"] = [bad(lambda: V23.__index__(), exc=TypeError, words=("float32",), op="index",
                                       traced=False)]
CATALOGUE["Variable.__format__"] = [bad(lambda: format(V23, "d"), exc=TypeError, words=("'d'", "(2, 3)"),
                                        op="format", traced=False)]
CATALOGUE["cond"] = [
    bad(lambda x: tf.cond(x, lambda v: v, lambda v: v, x), F23, exc=TypeError, words=("scalar", "(2, 3)")),
    bad(lambda x: tf.cond(True, lambda v: v, lambda v: v[0], x), F23, exc=TypeError,
        words=("float32[2,3]", "float32[3]")),
    bad(lambda x: tf.cond(True, lambda v: (v, v), lambda v: v, x), F23, exc=TypeError, words=("(*, *)",)),
]
CATALOGUE["fori_loop"] = [
    bad(lambda x: tf.fori_loop(0, 2, lambda i, v: v[0], x), F23, exc=TypeError, words=("float32[2,3]", "float32[3]")),
    bad(lambda x: tf.fori_loop(0.5, 2, lambda i, v: v, x), F23, exc=TypeError, words=("lower", "float32")),
]
CATALOGUE["while_loop"] = [
    bad(lambda x: tf.while_loop(lambda v: v < 1.0, lambda v: v, x), F23, exc=TypeError, words=("bool", "[2,3]")),
    bad(lambda x: tf.while_loop(lambda v: True, lambda v: tf.cast(v, tf.int32), x), F23, exc=TypeError,
        words=("int32[2,3]", "float32[2,3]")),
]
CATALOGUE["scan"] = [
    bad(lambda x: tf.scan(lambda c, e: (c, None), x, None), F23, exc=TypeError, words=("length",)),
    bad(lambda x, y: tf.scan(lambda c, e: (c, None), 0.0, (x, y)), F23, F4, words=("(2, 3)", "(4,)")),
    bad(lambda x: tf.scan(lambda c, e: c, x, x), F23, exc=TypeError, words=("pair",)),
]


# array methods (issue 13)
CATALOGUE["Tensor.reshape"] = [bad(lambda x: x.reshape(4, 2), F23, words=("(2, 3)", "(4, 2)"), op="reshape")]
CATALOGUE["Tensor.astype"] = [bad(lambda x: x.astype("foo"), F23, exc=TypeError, words=("'foo'",), op="cast")]
for _m, _op in [("sum", "reduce_sum"), ("mean", "reduce_mean"), ("max", "reduce_max"), ("min", "reduce_min")]:
    CATALOGUE[f"Tensor.{_m}"] = [bad(lambda x, m=_m: getattr(x, m)(axis=5), F23, words=("5",), op=_op)]
CATALOGUE["Tensor.item"] = [bad(lambda x: x.item(), F23, words=("(2, 3)",), op="item", traced=False)]
CATALOGUE["from_dlpack"] = [bad(lambda: tf.from_dlpack([1.0]), exc=TypeError, words=("list", "__dlpack__"),
                                traced=False)]


# -- nn: losses, dropout, l2_normalize (issue 13) ----------------------------------------------------------------
CATALOGUE["nn.mean_squared_error"] = [bad(tf.nn.mean_squared_error, F23, F4, words=("(2, 3)", "(4,)"), op="subtract"),
                                      bad(tf.nn.mean_squared_error, FS, FS, words=("shape ()",))]
CATALOGUE["nn.softmax_cross_entropy"] = [
    bad(tf.nn.softmax_cross_entropy, F23, I23, words=("(2,)", "(2, 3)"), label="label shape"),
    bad(tf.nn.softmax_cross_entropy, F23, F4, words=("(2, 3)", "(4,)"), label="probability shape"),
    bad(tf.nn.softmax_cross_entropy, I23, I23, exc=TypeError, words=("int32",), label="int logits"),
    bad(lambda x: tf.nn.softmax_cross_entropy(x, tf.constant([0, 5])), F23, words=("[0, 3)", "5"), traced=False,
        label="label range"),
]
CATALOGUE["nn.sigmoid_binary_cross_entropy"] = [
    bad(tf.nn.sigmoid_binary_cross_entropy, F23, F4, words=("(2, 3)", "(4,)")),
    bad(tf.nn.sigmoid_binary_cross_entropy, I23, I23, exc=TypeError, words=("int32",), label="int logits")]
CATALOGUE["nn.dropout"] = [bad(lambda x: tf.nn.dropout(x, 1.5), F23, words=("1.5",)),
                           bad(lambda x: tf.nn.dropout(x, 0.5), I23, exc=TypeError, words=("int32",), label="int"),
                           bad(lambda x: tf.nn.dropout(x, "a"), F23, exc=TypeError, words=("str",), label="rate")]
CATALOGUE["nn.l2_normalize"] = [bad(tf.nn.l2_normalize, I23, exc=TypeError, words=("int32",)),
                                bad(lambda x: tf.nn.l2_normalize(x, axis=5), F23, words=("5",), op="reduce_sum")]

# TensorFlow's names added for parity (tests/test_tf_parity.py)
CATALOGUE["round"] = [bad(tf.round, B23, exc=TypeError, words=("bool",), op="round")]
CATALOGUE["math.ceil"] = [bad(tf.math.ceil, I23, exc=TypeError, words=("int32",), op="ceil")]
CATALOGUE["math.reduce_variance"] = [
    bad(tf.math.reduce_variance, I23, exc=TypeError, words=("int32",), op="reduce_variance"),
    bad(lambda x: tf.math.reduce_variance(x, axis=5), F23, words=("5",), op="reduce_variance", label="axis")]
CATALOGUE["math.reduce_std"] = [bad(tf.math.reduce_std, I23, exc=TypeError, words=("int32",), op="reduce_std")]
CATALOGUE["math.divide_no_nan"] = [
    bad(tf.math.divide_no_nan, I23, I23, exc=TypeError, words=("int32",), op="divide_no_nan"),
    bad(tf.math.divide_no_nan, F23, F4, words=("(2, 3)", "(4,)"), op="divide_no_nan", label="shapes")]
CATALOGUE["norm"] = [bad(tf.norm, I23, exc=TypeError, words=("int32",), op="norm"),
                     bad(lambda x: tf.norm(x, ord=3), F23, words=("3",), op="norm", label="ord")]
CATALOGUE["Tensor.get_shape"] = [bad(lambda x: x.get_shape(1), F23, exc=TypeError, words=("argument",),
                                     op="get_shape", traced=False)]
CATALOGUE["Variable.get_shape"] = [bad(lambda: V23.get_shape(1), exc=TypeError, words=("argument",),
                                       op="get_shape", traced=False)]

CATALOGUE["save"] = [bad(lambda: tf.save(os.devnull, {"a": "text"}), exc=TypeError, words=("['a']", "str"),
                         traced=False)]
CATALOGUE["load"] = [bad(lambda: tf.load(__file__), words=("not a jaxish checkpoint",), traced=False)]

# -- functions that take no input that could be wrong, and names that are not functions --------------------------
NO_BAD_INPUT = {
    "clear_cache": "takes no arguments",
    "random.get_state": "takes no arguments",
    "Variable.read_value": "takes no arguments", "Variable.value": "takes no arguments",
    "Variable.numpy": "takes no arguments", "Variable.ref": "takes no arguments",
    "Variable.experimental_ref": "takes no arguments",
    "Tensor.numpy": "takes no arguments", "Tensor.ref": "takes no arguments", "Tensor.tolist": "takes no arguments",
    "Tensor.experimental_ref": "takes no arguments", "Tensor.__pos__": "the identity",
    "Tensor.__array__": "NumPy's protocol; NumPy checks its dtype argument",
    "Tensor.__repr__": "takes no arguments", "Tensor.__str__": "takes no arguments",
    "Variable.__array__": "NumPy's protocol; NumPy checks its dtype argument",
    "Variable.__repr__": "takes no arguments", "Variable.__str__": "takes no arguments",
    "is_tensor": "takes any object",
}
NOT_FUNCTIONS = {
    "CacheWarning", "ConcretizationError", "EscapedTracerError",  # exception classes
    "UnconnectedGradients",  # an enum
    "DType", "TensorShape", "Graph", "Tracer", "Tensor",  # made by jaxish (as_dtype, .shape, make_graph, constant)
    "random.Tensor", "random.current_trace",  # names random.py imports for its own use
}


def _entries():
    for name, cases in CATALOGUE.items():
        for i, case in enumerate(cases):
            marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
            yield pytest.param(name, case, id=f"{name}[{case.label or i}]", marks=marks)


def _check_message(name: str, case: Bad, err: BaseException):
    msg = str(err)
    op = case.op or name.split(".")[-1]
    assert op in msg, f"{name}: the message does not name the op {op!r}: {msg!r}"
    for w in case.words:
        assert w in msg, f"{name}: the message does not name {w!r}: {msg!r}"
    low = msg.lower()
    for f in FORBIDDEN:
        assert f not in low, f"{name}: internal text {f!r} in the message: {msg!r}"


@pytest.mark.parametrize("name, case", list(_entries()))
def test_bad_input_eager(name, case):
    with pytest.raises(case.exc) as err:
        case.call(*case.args)
    _check_message(name, case, err.value)


@pytest.mark.parametrize("name, case", [p for p in _entries() if p.values[1].traced])
def test_bad_input_traced(name, case, backend):
    with pytest.raises(case.exc) as err:
        tf.trace(case.call)(*case.args)
    _check_message(name, case, err.value)


# -- every public function has an entry -----------------------------------------------------------------------------
def _public_callables():
    """``name -> object`` for everything public: jaxish's namespace, its API modules, Tensor and Variable methods."""
    out = {}
    for n in tf.__all__:
        v = getattr(tf, n)
        if callable(v) and not isinstance(v, types.ModuleType):
            out[n] = v
    for mod in ("math", "linalg", "nn", "random"):
        m = getattr(tf, mod)
        for n in dir(m):
            v = getattr(m, n)
            if not n.startswith("_") and callable(v) and not isinstance(v, types.ModuleType):
                out[f"{mod}.{n}"] = v
    protocols = {"__len__", "__iter__", "__bool__", "__int__", "__float__", "__index__", "__format__",
                 "__array__", "__getitem__", "__repr__", "__str__"}
    for cls in (tf.Tensor, tf.Variable):
        for n, v in inspect.getmembers(cls):
            if callable(v) and (not n.startswith("_") or n in tf.tensor_methods.OPERATORS or n in protocols):
                out[f"{cls.__name__}.{n}"] = v
    return out


def _covered(name: str) -> bool:
    return name in CATALOGUE or name in NO_BAD_INPUT or name in NOT_FUNCTIONS


def test_every_public_function_has_an_entry():
    public = _public_callables()
    # an alias (jaxish.math.add is jaxish.add, jit is trace) is covered by an entry for any of its names
    covered_objects = {id(public[n]) for n in public if _covered(n)}
    missing = sorted(n for n, v in public.items() if not _covered(n) and id(v) not in covered_objects)
    assert not missing, f"public functions without a bad-input catalogue entry: {missing}"
    stale = sorted(n for n in list(CATALOGUE) + list(NO_BAD_INPUT) if n not in public)
    assert not stale, f"catalogue entries for names that are not public: {stale}"


# -- the checks above do not reject valid inputs (issue 7, items 11 and 14) -----------------------------------------
X234 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 0, 1), (-1, 0, 1), (1, -3, -1), [2, 1, 0]])
def test_transpose_valid_perms_match_numpy(perm, backend):
    want = np.transpose(X234, perm)
    np.testing.assert_array_equal(tf.transpose(tf.constant(X234), perm).numpy(), want)
    np.testing.assert_array_equal(tf.trace(lambda x: tf.transpose(x, perm))(tf.constant(X234)).numpy(), want)


@pytest.mark.parametrize("axis", [1, -1, np.int64(0), (0, -1), [2], tf.constant(1), tf.constant([0, 2])])
def test_integer_axes_of_every_kind_are_accepted(axis):
    np_axis = tuple(np.asarray(axis).tolist()) if np.ndim(np.asarray(axis)) else int(np.asarray(axis))
    np.testing.assert_allclose(tf.reduce_sum(tf.constant(X234), axis=axis).numpy(), X234.sum(axis=np_axis))


@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
def test_one_hot_axes_match_a_numpy_reference(axis, backend):
    idx = np.array([[0, 2, 1], [3, 1, -1]])
    depth = 3
    hot = (idx[..., None] == np.arange(depth)).astype(np.float32)  # classes last; index 3 and -1 are all-off
    want = np.moveaxis(hot, -1, axis)
    got = tf.trace(lambda i: tf.one_hot(i, depth, axis=axis))(tf.constant(idx))
    np.testing.assert_array_equal(got.numpy(), want)
    assert tf.one_hot(tf.constant(idx), 0).shape == (2, 3, 0)


def test_unstack_num_and_positional_order_follow_tensorflow():
    x = tf.constant(X234)
    parts = tf.unstack(x, 3, axis=1)  # tf.unstack(value, num, axis)
    assert len(parts) == 3
    for k, p in enumerate(parts):
        np.testing.assert_array_equal(p.numpy(), X234[:, k])


def test_reshape_tile_and_broadcast_accept_valid_shapes():
    x = tf.constant(X234)
    assert tf.reshape(x, (-1, 4)).shape == (6, 4)
    assert tf.reshape(x, np.array([4, -1])).shape == (4, 6)
    np.testing.assert_array_equal(tf.tile(tf.constant(X234[0]), [0, 2]).numpy(), np.tile(X234[0], (0, 2)))
    assert tf.zeros(np.int64(3)).shape == (3,)
    assert tf.eye(2, 3, batch_shape=[2]).shape == (2, 2, 3)
    np.testing.assert_allclose(tf.linspace(tf.constant(0.0), 1.0, 5).numpy(), np.linspace(0, 1, 5))
    np.testing.assert_array_equal(tf.range(tf.constant(1), 7, 2).numpy(), np.arange(1, 7, 2))


def test_negative_static_argnums_count_from_the_end():
    calls = []

    @tf.trace(static_argnums=-1)
    def f(x, n):
        calls.append(n)
        return x * n

    assert float(f(tf.constant(2.0), 3)) == 6.0
    assert float(f(tf.constant(2.0), 4)) == 8.0
    assert float(f(tf.constant(5.0), 4)) == 20.0
    assert calls == [3, 4]  # n is static (one trace per value), x is not

    class Model:
        @tf.trace(static_argnums=(-1,))
        def scale(self, x, n):
            return x * n

    assert float(Model().scale(tf.constant(1.5), 2)) == 3.0


def test_static_argnums_beyond_the_signature_are_fine_with_varargs():
    f = tf.trace(lambda *args: args[0] * args[1], static_argnums=(1, 7))
    assert float(f(tf.constant(2.0), 3)) == 6.0
    g = tf.trace(lambda x, **kw: x * kw["k"], static_argnames="k")
    assert float(g(tf.constant(2.0), k=3)) == 6.0
