"""CUDA lowerings of the control-flow primitives: loops driven from the host, carries kept on the device.

A branch or loop body is a ``Program`` of its own (optimised for execution,
cached by structure in ``placement``); the node's host step runs it on the
device arrays of the enclosing program. The carry stays on the device from
one iteration to the next: a scan copies nothing to the host, slices ``xs``
as device views and writes each ``y`` into its preallocated stack with a
device-to-device copy. A ``cond`` reads its branch index and a ``while`` its
predicate (one scalar per iteration) back to the host, which chooses what to
launch next.
"""
from __future__ import annotations

from ...core.control_flow import cond_p, scan_p, while_p
from ...ir import Graph
from .kernels import cshape
from .lowerings import register_lowering


def _program(graph: Graph):
    from ...passes import optimize
    from .codegen import Unsupported
    from .placement import program_for
    prog = program_for(optimize(graph, for_execution=True))
    if isinstance(prog, Unsupported):
        raise Unsupported(str(prog))
    return prog


def _as_kernel_shape(arr, aval):
    shape = cshape(aval)
    return arr if tuple(arr.shape) == shape else arr.reshape(shape)


def _scalar(arr) -> int:
    """A one-element device array's value on the host (a device-to-host copy of one element)."""
    return arr.copy_to_host().reshape(-1)[0]


@register_lowering(cond_p)
def _cond(p, ins, outs, branches):
    progs = [_program(b) for b in branches]
    idx, args = p.atom(ins[0]), [p.atom(a) for a in ins[1:]]
    slots = [p.new(o) for o in outs]

    def fn(env):
        i = min(max(int(_scalar(env[idx])), 0), len(progs) - 1)
        for k, o, v in zip(slots, progs[i]([env[a] for a in args]), outs):
            env[k] = _as_kernel_shape(o, v.aval)
    p.step(fn)


@register_lowering(while_p)
def _while(p, ins, outs, cond_graph, body_graph, cond_nconsts, body_nconsts, rng_carry=None):
    cprog, bprog = _program(cond_graph), _program(body_graph)
    cc = [p.atom(a) for a in ins[:cond_nconsts]]
    bc = [p.atom(a) for a in ins[cond_nconsts:cond_nconsts + body_nconsts]]
    init = [p.atom(a) for a in ins[cond_nconsts + body_nconsts:]]
    slots = [p.new(o) for o in outs]

    def fn(env):
        consts_c, consts_b = [env[k] for k in cc], [env[k] for k in bc]
        carry = [env[k] for k in init]
        while bool(_scalar(cprog(consts_c + carry)[0])):
            carry = [_as_kernel_shape(o, v.aval) for o, v in zip(bprog(consts_b + carry), outs)]
        for k, c in zip(slots, carry):
            env[k] = c
    p.step(fn)


@register_lowering(scan_p)
def _scan(p, ins, outs, body, length, reverse, num_consts, num_carry):
    prog = _program(body)
    consts = [p.atom(a) for a in ins[:num_consts]]
    init = [p.atom(a) for a in ins[num_consts:num_consts + num_carry]]
    xs = [(p.atom(a), len(a.aval.shape) == 1) for a in ins[num_consts + num_carry:]]
    carry_slots = [p.new(o) for o in outs[:num_carry]]
    ys = [(p.alloc(o), len(o.aval.shape) == 1) for o in outs[num_carry:]]
    ys_avals = [v.aval for v in body.outvars[num_carry:]]

    def fn(env):
        cs = [env[k] for k in consts]
        carry = [env[k] for k in init]
        for it in range(length):
            t = length - 1 - it if reverse else it
            xt = [env[k][t:t + 1] if flat else env[k][t] for k, flat in xs]
            res = prog(cs + carry + xt)
            carry = [_as_kernel_shape(o, v.aval) for o, v in zip(res[:num_carry], outs)]
            for (k, flat), y, a in zip(ys, res[num_carry:], ys_avals):
                dst = env[k][t:t + 1] if flat else env[k][t]
                dst.copy_to_device(_as_kernel_shape(y, a))
        for k, c in zip(carry_slots, carry):
            env[k] = c
    p.step(fn)
