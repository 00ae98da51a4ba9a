"""A traced function that assigns a Variable and reads it again.

Under a tape the read is a read of the Variable (the assignment cuts the tape), as in eager
code and in TensorFlow, whether the function is traced, nested in another traced function,
or the tape itself runs inside a traced function. ``grad`` keeps JAX's data flow. The
reference for every case is the eager run of the same Python function, and values and
gradients worked out by hand at x = 5, v = 1.
"""
import numpy as np
import pytest

import jaxish as jx

X = 5.0


def _plain(f):
    return f


# each case: make(v, wrap) -> f, where wrap is applied to the inner functions of nested cases;
# expected (y, dy/dx, dy/dv, v after the call), None for an unconnected gradient
def _assign_then_read(v, wrap):
    def f(x):
        v.assign(x * 2.0)
        return v * 3.0
    return f


def _read_before_and_after(v, wrap):
    def f(x):
        r0 = v.read_value()  # the old value, used after the assignment
        v.assign(x * 2.0)
        return r0 * v
    return f


def _assign_add_then_read(v, wrap):
    def f(x):
        v.assign(x * 2.0)
        v.assign_add(x)
        return v * 3.0 + x
    return f


def _two_assignments(v, wrap):
    def f(x):
        v.assign(x * 2.0)
        a = v * 3.0
        v.assign(x * x)
        v.assign_sub(1.0)
        return a * v
    return f


def _nested_inner_assigns_and_reads(v, wrap):
    inner = wrap(lambda x: (v.assign(x * 2.0), v * 3.0)[1])

    def f(x):
        return inner(x) + v * x
    return f


def _inner_reads_what_outer_assigned(v, wrap):
    inner = wrap(lambda x: v * x)

    def f(x):
        v.assign(x * 2.0)
        return inner(x)
    return f


def _assign_constant_then_read(v, wrap):
    def f(x):
        v.assign(3.0)
        return v * x
    return f


CASES = {
    "assign_then_read": (_assign_then_read, (3 * 2 * X, None, 3.0, 2 * X)),
    # y = r0 * v with r0 = 1 (old value), v = 2x: dy/dv = v + r0 (two reads)
    "read_before_and_after": (_read_before_and_after, (2 * X, None, 2 * X + 1.0, 2 * X)),
    "assign_add_then_read": (_assign_add_then_read, (3 * 3 * X + X, 1.0, 3.0, 3 * X)),
    # a = 3 * 2x, then v = x*x - 1: y = a * v, dy/dv = 3 * v + a
    "two_assignments": (_two_assignments, (6 * X * (X * X - 1), None, 3 * (X * X - 1) + 6 * X, X * X - 1)),
    # y = 3v + v*x with v = 2x: dy/dv = 3 + x, dy/dx = v (the second read's operand)
    "nested_inner_assigns_and_reads": (_nested_inner_assigns_and_reads, (6 * X + 2 * X * X, 2 * X, 3 + X, 2 * X)),
    "inner_reads_what_outer_assigned": (_inner_reads_what_outer_assigned, (2 * X * X, 2 * X, X, 2 * X)),
    "assign_constant_then_read": (_assign_constant_then_read, (3 * X, 3.0, X, 3.0)),
}

WAYS = {  # how f (and the inner functions of nested cases) are called
    "eager": (_plain, _plain),
    "traced": (jx.trace, jx.trace),
    "traced_twice": (lambda f: jx.trace(jx.trace(f)), jx.trace),
    "traced_calling_eager_inner": (jx.trace, _plain),
}


def _floats(gs):
    return [None if g is None else float(g) for g in gs]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("case", CASES)
def test_assign_then_read_under_a_tape_matches_eager(case, way):
    make, (y_ref, dx_ref, dv_ref, v_ref) = CASES[case]
    outer, inner = WAYS[way]
    v = jx.Variable(1.0)
    fn = outer(make(v, inner))
    x = jx.constant(X)
    with jx.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = fn(x)
    assert float(y) == y_ref
    assert float(v.numpy()) == v_ref  # written back once, with the last assigned value
    assert _floats(tape.gradient(y, [x, v])) == [dx_ref, dv_ref]
    assert _floats(tape.gradient(y, [v, x])) == [dv_ref, dx_ref]  # a persistent tape gives it again


@pytest.mark.parametrize("case", CASES)
def test_assign_then_read_under_a_tape_inside_a_traced_function(case):
    make, (y_ref, dx_ref, dv_ref, v_ref) = CASES[case]
    for inner in (_plain, jx.trace):
        v = jx.Variable(1.0)
        f = make(v, inner)

        def g(x):
            with jx.GradientTape() as tape:
                tape.watch(x)
                y = f(x)
            return y, tape.gradient(y, [x, v], unconnected_gradients="zero")

        y, grads = jx.trace(g)(jx.constant(X))
        assert float(y) == y_ref and float(v.numpy()) == v_ref
        assert _floats(grads) == [dx_ref or 0.0, dv_ref or 0.0]


def test_grad_of_assign_then_read_is_data_flow_and_compiled_code_has_no_marker():
    v = jx.Variable(1.0)

    def f(x):
        v.assign(x * 2.0)
        return v * 3.0

    assert float(jx.grad(f)(jx.constant(X))) == 6.0  # JAX-style: d(3 * 2x)/dx
    assert float(v.numpy()) == 2 * X
    graph = jx.make_graph(f)(jx.constant(X))
    text = str(graph)
    assert "read_after_assign[index=0]" in text, text
    from jaxish.passes import optimize
    executed = optimize(graph, for_execution=True)
    assert [n.prim.name for n in executed.nodes] == ["mul", "mul"], executed
    traced = jx.trace(f)
    np.testing.assert_array_equal(traced(jx.constant(4.0)).numpy(), np.float32(24.0))
    assert float(v.numpy()) == 8.0


def test_read_after_a_weakly_typed_assignment_is_strongly_typed_as_in_eager_code():
    v = jx.Variable(1.0)

    def f(h):
        v.assign(jx.add(2.0, 3.0))  # a weakly typed float32
        return v.read_value() + h

    h = jx.constant(1.0, dtype=jx.float16)
    eager = f(h)
    traced = jx.trace(f)(h)
    assert eager.dtype == traced.dtype == jx.float32
    assert float(eager) == float(traced) == 6.0


@pytest.mark.parametrize("op", ["assign", "assign_add", "assign_sub"])
def test_assigning_another_variable_reads_it_at_each_call(op):
    v, w = jx.Variable(1.0), jx.Variable(10.0)

    def f(x):
        getattr(w, op)(v)  # was: v's value when traced, baked into the graph as a constant
        v.assign(x)
        getattr(w, op)(v)  # v's value just assigned
        return w * 1.0

    traced = jx.trace(f)
    step = {"assign": lambda a, b: b, "assign_add": np.add, "assign_sub": np.subtract}[op]
    v_now, w_now = 1.0, 10.0
    for x in (2.0, 3.0):
        v.assign(v_now + 4.0)  # a new value of v before each call
        v_now = v_now + 4.0
        y = traced(jx.constant(x))
        w_now = step(step(w_now, v_now), x)
        v_now = x
        assert float(y) == float(w.numpy()) == w_now and float(v.numpy()) == v_now
