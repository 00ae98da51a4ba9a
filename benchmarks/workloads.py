"""The in-process workloads (1-4) of ``benchmarks/run.py``, one builder per workload.

Every framework gets the same data (drawn with NumPy, seed 0) and runs in
float32 on the CPU. Each builder returns :class:`harness.Case` objects whose
columns are factories, so that a framework that fails to set up is reported
in its cell instead of stopping the run.
"""
from __future__ import annotations

import numpy as np
from harness import Case, Impl

LR_LINREG = 0.05
LR_MLP = 0.1
CHECK_STEPS = 5


def _linreg_data():
    rng = np.random.default_rng(0)
    x = rng.random((32, 5), dtype=np.float32)
    true_weights = np.arange(5, dtype=np.float32)[:, None]
    y = (x @ true_weights).astype(np.float32)
    w0 = rng.random((5, 1), dtype=np.float32)
    return x, y, w0


def _stateful_check(run_steps, reset):
    """A check: reset the state, run CHECK_STEPS steps, read the result, reset again."""
    def check():
        reset()
        out = run_steps(CHECK_STEPS)
        reset()
        return out
    return check


# ---------------------------------------------------------------------------
# 1. linear regression (the seed's section 5)
# ---------------------------------------------------------------------------
def linreg_numpy() -> Impl:
    x, y, w0 = _linreg_data()
    w = w0.copy()
    n = y.size

    def step():
        r = x @ w - y                          # y_hat - y
        loss = np.mean(r * r)
        grad = (2.0 / n) * (x.T @ r)
        w[...] -= np.float32(LR_LINREG) * grad
        return loss

    def run(k):
        for _ in range(k):
            step()
        return w.copy()
    return Impl(step, label="hand-written gradient, in-place update",
                check=_stateful_check(run, lambda: w.__setitem__(Ellipsis, w0)))


def linreg_jaxish_eager(tf) -> Impl:
    x_, y_, w0 = _linreg_data()
    x, y = tf.constant(x_), tf.constant(y_)
    weights = tf.Variable(w0)

    def step():  # the seed's loop body, minus the print
        with tf.GradientTape() as tape:
            y_hat = tf.linalg.matmul(x, weights)
            loss = tf.reduce_mean(tf.square(y - y_hat))
        gradients = tape.gradient(loss, weights)
        weights.assign_add(-LR_LINREG * gradients)
        return loss

    def run(k):
        for _ in range(k):
            step()
        return weights.numpy().copy()
    return Impl(step, lambda r: (r.numpy(), weights.numpy()), "eager GradientTape loop (seed)",
                _stateful_check(run, lambda: weights.assign(w0)))


def linreg_jaxish_traced_tape(tf) -> Impl:
    x_, y_, w0 = _linreg_data()
    x, y = tf.constant(x_), tf.constant(y_)
    weights = tf.Variable(w0)

    @tf.trace
    def train_step(x, y):
        with tf.GradientTape() as tape:
            y_hat = tf.linalg.matmul(x, weights)
            loss = tf.reduce_mean(tf.square(y - y_hat))
        gradients = tape.gradient(loss, weights)
        weights.assign_add(-LR_LINREG * gradients)
        return loss

    def run(k):
        for _ in range(k):
            train_step(x, y)
        return weights.numpy().copy()
    return Impl(lambda: train_step(x, y), lambda r: (r.numpy(), weights.numpy()),
                "@trace(tape + assign_add)", _stateful_check(run, lambda: weights.assign(w0)))


def linreg_jaxish_traced_vg(tf, jaxish) -> Impl:
    x_, y_, w0 = _linreg_data()
    x, y = tf.constant(x_), tf.constant(y_)
    weights = tf.Variable(w0)

    def loss_fn(w, x, y):
        return tf.reduce_mean(tf.square(y - tf.linalg.matmul(x, w)))
    loss_and_grad = jaxish.value_and_grad(loss_fn)

    @jaxish.trace
    def train_step(x, y):
        loss, g = loss_and_grad(weights.read_value(), x, y)
        weights.assign(weights - LR_LINREG * g)
        return loss

    def run(k):
        for _ in range(k):
            train_step(x, y)
        return weights.numpy().copy()
    return Impl(lambda: train_step(x, y), lambda r: (r.numpy(), weights.numpy()),
                "@trace(value_and_grad + assign)", _stateful_check(run, lambda: weights.assign(w0)))


def _linreg_jax(jax, jit: bool) -> Impl:
    jnp = jax.numpy
    x_, y_, w0 = _linreg_data()
    x, y = jnp.asarray(x_), jnp.asarray(y_)

    def loss_fn(w, x, y):
        return jnp.mean(jnp.square(y - x @ w))

    def train_step(w, x, y):
        loss, g = jax.value_and_grad(loss_fn)(w, x, y)
        return w - LR_LINREG * g, loss
    if jit:
        train_step = jax.jit(train_step)
    st = {"w": jnp.asarray(w0)}

    def step():
        st["w"], loss = train_step(st["w"], x, y)
        return loss

    def run(k):
        for _ in range(k):
            step()
        return np.asarray(st["w"])

    def reset():
        st["w"] = jnp.asarray(w0)
    return Impl(step, lambda r: jax.block_until_ready((r, st["w"])),
                "jax.jit(value_and_grad step)" if jit else "value_and_grad step, not jitted (op by op)",
                _stateful_check(run, reset))


def linreg_torch(torch) -> Impl:
    x_, y_, w0 = _linreg_data()
    x, y = torch.tensor(x_), torch.tensor(y_)
    w = torch.tensor(w0, requires_grad=True)

    def step():
        loss = torch.mean(torch.square(y - x @ w))
        loss.backward()
        with torch.no_grad():
            w.add_(w.grad, alpha=-LR_LINREG)
        w.grad = None
        return loss

    def run(k):
        for _ in range(k):
            step()
        return w.detach().numpy().copy()

    def reset():
        with torch.no_grad():
            w.copy_(torch.tensor(w0))
    return Impl(step, lambda r: r.item(), "eager autograd, torch.no_grad update", _stateful_check(run, reset))


def build_linreg(fw) -> list:
    tf = jaxish = fw["jaxish"]
    jax, torch = fw.get("jax"), fw.get("torch")

    def common(extra_jax):
        d = {"NumPy": linreg_numpy}
        if jax is not None:
            d["JAX"] = extra_jax
        if torch is not None:
            d["PyTorch"] = lambda: linreg_torch(torch)
        return d
    return [
        Case("1a", "linreg", "linear regression 32×5, eager step (seed loop; JAX op-by-op)", "us",
             {"jaxish": lambda: linreg_jaxish_eager(tf), **common(lambda: _linreg_jax(jax, jit=False))}),
        Case("1b", "linreg", "linear regression, traced step: @trace(tape + assign_add)", "us",
             {"jaxish": lambda: linreg_jaxish_traced_tape(tf), **common(lambda: _linreg_jax(jax, jit=True))}),
        Case("1c", "linreg", "linear regression, traced step: @trace(value_and_grad + assign)", "us",
             {"jaxish": lambda: linreg_jaxish_traced_vg(tf, jaxish), **common(lambda: _linreg_jax(jax, jit=True))}),
    ]


# ---------------------------------------------------------------------------
# 2. value and gradient of sum(tanh(0.5*x + 1)**2 + exp(-x*x))
# ---------------------------------------------------------------------------
def _vg_data(n):
    return np.random.default_rng(0).standard_normal(n, dtype=np.float32)


def vg_numpy(n) -> Impl:
    x = _vg_data(n)

    def step():
        t = np.tanh(np.float32(0.5) * x + np.float32(1))
        e = np.exp(-x * x)
        value = np.sum(t * t + e)
        grad = t * (1 - t * t) - 2 * x * e     # d/dx tanh(u)^2 = 2 t (1 - t^2) * 0.5 ; d/dx exp(-x^2) = -2x e
        return value, grad
    return Impl(step, label="hand-written forward + backward", check=step)


def vg_jaxish(jaxish, n) -> Impl:
    tf = jaxish
    x = tf.constant(_vg_data(n))

    def f(x):
        return tf.reduce_sum(tf.tanh(0.5 * x + 1) ** 2 + tf.exp(-x * x))
    vg = jaxish.trace(jaxish.value_and_grad(f))

    def check():
        v, g = vg(x)
        return v.numpy(), g.numpy()
    # materialised as NumPy arrays without a copy (``np.asarray``: a read-only view), as torch's ``.numpy()`` and
    # JAX's ``block_until_ready`` do; jaxish's ``.numpy()`` copies (the Tensor stays immutable): 40 MB at n = 1e7
    return Impl(lambda: vg(x), lambda r: (np.asarray(r[0]), np.asarray(r[1])), "trace(value_and_grad(f))", check)


def vg_jax(jax, n) -> Impl:
    jnp = jax.numpy
    x = jnp.asarray(_vg_data(n))

    def f(x):
        return jnp.sum(jnp.tanh(0.5 * x + 1) ** 2 + jnp.exp(-x * x))
    vg = jax.jit(jax.value_and_grad(f))

    def check():
        v, g = vg(x)
        return np.asarray(v), np.asarray(g)
    return Impl(lambda: vg(x), jax.block_until_ready, "jax.jit(value_and_grad(f))", check)


def vg_torch(torch, n) -> Impl:
    x = torch.tensor(_vg_data(n), requires_grad=True)

    def step():
        v = torch.sum(torch.tanh(0.5 * x + 1) ** 2 + torch.exp(-x * x))
        (g,) = torch.autograd.grad(v, x)
        return v, g

    def check():
        v, g = step()
        return v.detach().numpy(), g.numpy()
    return Impl(step, lambda r: (r[0].item(), r[1].numpy()), "eager autograd (torch.autograd.grad)", check)


def build_vg(fw, sizes=(1_000, 10_000_000)) -> list:
    jaxish, jax, torch = fw["jaxish"], fw.get("jax"), fw.get("torch")
    cases = []
    for i, n in enumerate(sizes):
        impls = {"jaxish": lambda n=n: vg_jaxish(jaxish, n), "NumPy": lambda n=n: vg_numpy(n)}
        if jax is not None:
            impls["JAX"] = lambda n=n: vg_jax(jax, n)
        if torch is not None:
            impls["PyTorch"] = lambda n=n: vg_torch(torch, n)
        cases.append(Case(f"2{'abcd'[i]}", "vg", f"value_and_grad of sum(tanh(.5x+1)²+exp(-x²)), n={n:,}",
                          "us" if n < 100_000 else "ms", impls))
    return cases


# ---------------------------------------------------------------------------
# 3. MLP 784 -> 256 (tanh) -> 10, softmax cross-entropy, SGD, batch 128
# ---------------------------------------------------------------------------
def _mlp_data():
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 128)
    y = np.eye(10, dtype=np.float32)[labels]
    params = [(rng.standard_normal((784, 256), dtype=np.float32) * np.float32(0.05)),
              np.zeros(256, np.float32),
              (rng.standard_normal((256, 10), dtype=np.float32) * np.float32(0.1)),
              np.zeros(10, np.float32)]
    return x, y, params


def mlp_numpy() -> Impl:
    x, y, p0 = _mlp_data()
    p = [a.copy() for a in p0]
    b = x.shape[0]
    lr = np.float32(LR_MLP)

    def step():
        w1, b1, w2, b2 = p
        h = np.tanh(x @ w1 + b1)
        logits = h @ w2 + b2
        z = logits - logits.max(axis=1, keepdims=True)
        lse = np.log(np.sum(np.exp(z), axis=1, keepdims=True))
        logp = z - lse
        loss = -np.mean(np.sum(y * logp, axis=1))
        d_logits = (np.exp(logp) - y) / np.float32(b)
        d_w2 = h.T @ d_logits
        d_b2 = d_logits.sum(axis=0)
        d_z1 = (d_logits @ w2.T) * (1 - h * h)
        d_w1 = x.T @ d_z1
        d_b1 = d_z1.sum(axis=0)
        for a, g in zip(p, (d_w1, d_b1, d_w2, d_b2)):
            a -= lr * g
        return loss

    def run(k):
        for _ in range(k):
            step()
        return [a.copy() for a in p]

    def reset():
        for a, a0 in zip(p, p0):
            a[...] = a0
    return Impl(step, label="hand-written backward, in-place SGD", check=_stateful_check(run, reset))


def mlp_jaxish(tf) -> Impl:
    x_, y_, p0 = _mlp_data()
    x, y = tf.constant(x_), tf.constant(y_)
    params = [tf.Variable(a) for a in p0]
    w1, b1, w2, b2 = params

    @tf.trace
    def train_step(x, y):
        with tf.GradientTape() as tape:
            h = tf.tanh(tf.matmul(x, w1) + b1)
            logits = tf.matmul(h, w2) + b2
            loss = -tf.reduce_mean(tf.reduce_sum(y * tf.nn.log_softmax(logits), axis=1))
        grads = tape.gradient(loss, params)
        for v, g in zip(params, grads):
            v.assign_sub(LR_MLP * g)
        return loss

    def run(k):
        for _ in range(k):
            train_step(x, y)
        return [v.numpy().copy() for v in params]

    def reset():
        for v, a0 in zip(params, p0):
            v.assign(a0)
    return Impl(lambda: train_step(x, y), lambda r: (r.numpy(), w1.numpy()),
                "@trace(tape + assign_sub on Variables)", _stateful_check(run, reset))


def mlp_jax(jax) -> Impl:
    jnp = jax.numpy
    x_, y_, p0 = _mlp_data()
    x, y = jnp.asarray(x_), jnp.asarray(y_)

    def loss_fn(p, x, y):
        w1, b1, w2, b2 = p
        h = jnp.tanh(x @ w1 + b1)
        logits = h @ w2 + b2
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=1))

    @jax.jit
    def train_step(p, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        return tuple(a - LR_MLP * b for a, b in zip(p, g)), loss
    st = {}

    def reset():
        st["p"] = tuple(jnp.asarray(a) for a in p0)
    reset()

    def step():
        st["p"], loss = train_step(st["p"], x, y)
        return loss

    def run(k):
        for _ in range(k):
            step()
        return [np.asarray(a) for a in st["p"]]
    return Impl(step, lambda r: jax.block_until_ready((r, st["p"])), "jax.jit(value_and_grad step), params returned",
                _stateful_check(run, reset))


def mlp_torch(torch) -> Impl:
    x_, y_, p0 = _mlp_data()
    x, y = torch.tensor(x_), torch.tensor(y_)
    params = [torch.tensor(a, requires_grad=True) for a in p0]
    w1, b1, w2, b2 = params

    def step():
        h = torch.tanh(x @ w1 + b1)
        logits = h @ w2 + b2
        loss = -torch.mean(torch.sum(y * torch.log_softmax(logits, dim=1), dim=1))
        loss.backward()
        with torch.no_grad():
            for v in params:
                v.add_(v.grad, alpha=-LR_MLP)
                v.grad = None
        return loss

    def run(k):
        for _ in range(k):
            step()
        return [v.detach().numpy().copy() for v in params]

    def reset():
        with torch.no_grad():
            for v, a0 in zip(params, p0):
                v.copy_(torch.tensor(a0))
    return Impl(step, lambda r: r.item(), "eager autograd, torch.no_grad SGD", _stateful_check(run, reset))


def build_mlp(fw) -> list:
    impls = {"jaxish": lambda: mlp_jaxish(fw["jaxish"]), "NumPy": mlp_numpy}
    if fw.get("jax") is not None:
        impls["JAX"] = lambda: mlp_jax(fw["jax"])
    if fw.get("torch") is not None:
        impls["PyTorch"] = lambda: mlp_torch(fw["torch"])
    return [Case("3", "mlp", "MLP 784→256→10 training step, batch 128", "us", impls, check_rtol=2e-3,
                 check_atol=2e-5)]


# ---------------------------------------------------------------------------
# 4. per-call overhead: x*2+1 on shape (1,)
# ---------------------------------------------------------------------------
def build_overhead(fw) -> list:
    jaxish, jax, torch = fw["jaxish"], fw.get("jax"), fw.get("torch")
    x_np = np.ones(1, np.float32)

    def numpy_impl():
        return Impl(lambda: x_np * 2 + 1, label="x*2+1 on an ndarray", check=lambda: x_np * 2 + 1)

    def jaxish_traced():
        f = jaxish.trace(lambda x: x * 2 + 1)
        x = jaxish.constant(x_np)
        return Impl(lambda: f(x), lambda r: r.numpy(), "trace(lambda x: x*2+1)", lambda: f(x).numpy())

    def jaxish_eager():
        x = jaxish.constant(x_np)
        return Impl(lambda: x * 2 + 1, lambda r: r.numpy(), "eager x*2+1 (2 ops)", lambda: (x * 2 + 1).numpy())

    def jax_impl(jit):
        x = jax.numpy.asarray(x_np)
        f = (lambda x: x * 2 + 1)
        f = jax.jit(f) if jit else f
        return Impl(lambda: f(x), jax.block_until_ready, "jax.jit(lambda x: x*2+1)" if jit else "eager x*2+1",
                    lambda: np.asarray(f(x)))

    def torch_impl():
        x = torch.tensor(x_np)
        return Impl(lambda: x * 2 + 1, lambda r: r.numpy(), "eager x*2+1", lambda: (x * 2 + 1).numpy())
    cases = []
    for key, title, jx, jit in (("4a", "per-call overhead: traced x*2+1, shape (1,)", jaxish_traced, True),
                                ("4b", "per-call overhead: eager x*2+1, shape (1,)", jaxish_eager, False)):
        impls = {"jaxish": jx, "NumPy": numpy_impl}
        if jax is not None:
            impls["JAX"] = lambda jit=jit: jax_impl(jit)
        if torch is not None:
            impls["PyTorch"] = torch_impl
        cases.append(Case(key, "overhead", title, "us", impls))
    return cases


# ---------------------------------------------------------------------------
# 6. loops inside one traced function: fori_loop and scan (issue 11)
# ---------------------------------------------------------------------------
LOOP_STEPS = 1001


def loop_linreg_numpy() -> Impl:
    x, y, w0 = _linreg_data()
    n = y.size

    def run():
        w = w0.copy()
        for _ in range(LOOP_STEPS):
            w = w - np.float32(LR_LINREG) * ((2.0 / n) * (x.T @ (x @ w - y))).astype(np.float32)
        return w
    return Impl(run, label=f"Python loop of {LOOP_STEPS} hand-written gradient steps", check=run)


def loop_linreg_jaxish(jaxish) -> Impl:
    x_, y_, w0_ = _linreg_data()
    x, y, w0 = jaxish.constant(x_), jaxish.constant(y_), jaxish.constant(w0_)

    def loss_fn(w, x, y):
        return jaxish.reduce_mean(jaxish.square(y - jaxish.linalg.matmul(x, w)))

    @jaxish.trace
    def train(w, x, y):
        return jaxish.fori_loop(0, LOOP_STEPS, lambda i, w: w - LR_LINREG * jaxish.grad(loss_fn)(w, x, y), w)
    return Impl(lambda: train(w0, x, y), lambda r: r.numpy(), f"@trace(fori_loop(0, {LOOP_STEPS}, grad step))",
                lambda: train(w0, x, y).numpy())


def loop_linreg_jax(jax) -> Impl:
    jnp = jax.numpy
    x_, y_, w0_ = _linreg_data()
    x, y, w0 = jnp.asarray(x_), jnp.asarray(y_), jnp.asarray(w0_)

    def loss_fn(w, x, y):
        return jnp.mean(jnp.square(y - x @ w))

    @jax.jit
    def train(w, x, y):
        return jax.lax.fori_loop(0, LOOP_STEPS, lambda i, w: w - LR_LINREG * jax.grad(loss_fn)(w, x, y), w)
    return Impl(lambda: train(w0, x, y), jax.block_until_ready, f"jax.jit(lax.fori_loop(0, {LOOP_STEPS}, grad step))",
                lambda: np.asarray(train(w0, x, y)))


RNN_T, RNN_B, RNN_IN, RNN_H = 100, 16, 32, 64


def _rnn_data():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((RNN_H, RNN_H)) / np.sqrt(RNN_H)).astype(np.float32)
    u = (rng.standard_normal((RNN_IN, RNN_H)) / np.sqrt(RNN_IN)).astype(np.float32)
    b = (0.1 * rng.standard_normal(RNN_H)).astype(np.float32)
    xs = rng.standard_normal((RNN_T, RNN_B, RNN_IN)).astype(np.float32)
    h0 = np.zeros((RNN_B, RNN_H), np.float32)
    return w, u, b, xs, h0


def rnn_numpy() -> Impl:
    """Forward and hand-written backpropagation through time; loss = mean of the squared hidden states."""
    w, u, b, xs, h0 = _rnn_data()
    n = RNN_T * RNN_B * RNN_H

    def run():
        hs = [h0]
        for t in range(RNN_T):
            hs.append(np.tanh(hs[-1] @ w + xs[t] @ u + b))
        loss = sum(float(np.sum(h * h)) for h in hs[1:]) / n
        dw, du, db = np.zeros_like(w), np.zeros_like(u), np.zeros_like(b)
        dnext = np.zeros_like(h0)
        for t in reversed(range(RNN_T)):
            h = hs[t + 1]
            da = (2.0 / n * h + dnext) * (1 - h * h)
            dw += hs[t].T @ da
            du += xs[t].T @ da
            db += da.sum(0)
            dnext = da @ w.T
        return [np.float32(loss), dw, du, db]
    return Impl(run, label="forward loop + hand-written BPTT", check=run)


def rnn_jaxish(jaxish) -> Impl:
    w, u, b, xs, h0 = (jaxish.constant(a) for a in _rnn_data())

    def loss(w, u, b, xs, h0):
        def cell(h, x):
            h = jaxish.tanh(jaxish.linalg.matmul(h, w) + jaxish.linalg.matmul(x, u) + b)
            return h, h
        _, hs = jaxish.scan(cell, h0, xs)
        return jaxish.reduce_mean(jaxish.square(hs))
    vg = jaxish.trace(jaxish.value_and_grad(loss, argnums=(0, 1, 2)))

    def check():
        v, g = vg(w, u, b, xs, h0)
        return [v.numpy()] + [t.numpy() for t in g]
    return Impl(lambda: vg(w, u, b, xs, h0), lambda r: r[0].numpy(), "@trace(value_and_grad(scan(cell)))", check)


def rnn_jax(jax) -> Impl:
    jnp = jax.numpy
    w, u, b, xs, h0 = (jnp.asarray(a) for a in _rnn_data())

    def loss(w, u, b, xs, h0):
        def cell(h, x):
            h = jnp.tanh(h @ w + x @ u + b)
            return h, h
        _, hs = jax.lax.scan(cell, h0, xs)
        return jnp.mean(jnp.square(hs))
    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))

    def check():
        v, g = vg(w, u, b, xs, h0)
        return [np.asarray(v)] + [np.asarray(t) for t in g]
    return Impl(lambda: vg(w, u, b, xs, h0), jax.block_until_ready, "jax.jit(value_and_grad(lax.scan(cell)))", check)


def build_loops(fw) -> list:
    jaxish, jax = fw["jaxish"], fw.get("jax")
    lin = {"jaxish": lambda: loop_linreg_jaxish(jaxish), "NumPy": loop_linreg_numpy}
    rnn = {"jaxish": lambda: rnn_jaxish(jaxish), "NumPy": rnn_numpy}
    if jax is not None:
        lin["JAX"] = lambda: loop_linreg_jax(jax)
        rnn["JAX"] = lambda: rnn_jax(jax)
    return [
        Case("6a", "loops", f"seed linear regression {LOOP_STEPS} steps as one fori_loop inside @trace, µs per step",
             "us", lin, per_call=LOOP_STEPS),
        Case("6b", "loops", f"RNN cell width {RNN_H} (batch {RNN_B}, input {RNN_IN}) over {RNN_T} steps via scan, "
             "value and gradient", "us", rnn, check_rtol=2e-3, check_atol=2e-5),
    ]


# ---------------------------------------------------------------------------
# 7. transforms: trace(hessian(f)) at n = 200; per-example MLP gradients (vmap(grad)) over batch 128
# ---------------------------------------------------------------------------
HESS_N = 200


def _hess_data():
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((HESS_N, HESS_N), dtype=np.float32) / np.float32(np.sqrt(HESS_N)))
    x = rng.standard_normal(HESS_N, dtype=np.float32)
    return w, x


def hess_numpy() -> Impl:
    w, x = _hess_data()

    def step():  # f = sum(tanh(W x)^2) + sum(exp(-x^2)):  H = W^T diag(2(1-t^2)(1-3t^2)) W + diag((4x^2-2) e^{-x^2})
        t = np.tanh(w @ x)
        d = np.float32(2) * (1 - t * t) * (1 - np.float32(3) * t * t)
        h = (w.T * d) @ w
        h[np.diag_indices(HESS_N)] += (np.float32(4) * x * x - np.float32(2)) * np.exp(-x * x)
        return h
    return Impl(step, label="hand-written Hessian", check=step)


def hess_jaxish(jaxish) -> Impl:
    w_, x_ = _hess_data()
    w, x = jaxish.constant(w_), jaxish.constant(x_)

    def f(x):
        return jaxish.reduce_sum(jaxish.tanh(jaxish.matmul(w, jaxish.reshape(x, (HESS_N, 1)))) ** 2) + \
            jaxish.reduce_sum(jaxish.exp(-x * x))
    h = jaxish.trace(jaxish.hessian(f))
    return Impl(lambda: h(x), lambda r: r.numpy(), "trace(hessian(f)) (jacfwd(jacrev(f)))", lambda: h(x).numpy())


def hess_jax(jax) -> Impl:
    jnp = jax.numpy
    w_, x_ = _hess_data()
    w, x = jnp.asarray(w_), jnp.asarray(x_)

    def f(x):
        return jnp.sum(jnp.tanh(w @ x) ** 2) + jnp.sum(jnp.exp(-x * x))
    h = jax.jit(jax.hessian(f))
    return Impl(lambda: h(x), jax.block_until_ready, "jax.jit(jax.hessian(f))", lambda: np.asarray(h(x)))


def _per_example_numpy() -> Impl:
    x, y, (w1, b1, w2, b2) = _mlp_data()

    def step():  # per-example gradients of -sum(y * log_softmax(logits)) (each example its own loss)
        h = np.tanh(x @ w1 + b1)
        logits = h @ w2 + b2
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        d_logits = p - y
        d_z1 = (d_logits @ w2.T) * (1 - h * h)
        return (x[:, :, None] * d_z1[:, None, :], d_z1, h[:, :, None] * d_logits[:, None, :], d_logits)
    return Impl(step, label="hand-written per-example backward (outer products)", check=lambda: step()[2])


def _per_example_loss(tf):
    def loss(p, x, y):
        w1, b1, w2, b2 = p
        h = tf.tanh(tf.matmul(tf.reshape(x, (1, -1)), w1) + b1)
        logits = tf.matmul(h, w2) + b2
        return -tf.reduce_sum(y * tf.nn.log_softmax(logits))
    return loss


def per_example_jaxish(jaxish) -> Impl:
    x_, y_, p0 = _mlp_data()
    x, y = jaxish.constant(x_), jaxish.constant(y_)
    p = tuple(jaxish.constant(a) for a in p0)
    g = jaxish.trace(jaxish.vmap(jaxish.grad(_per_example_loss(jaxish)), in_axes=(None, 0, 0)))
    return Impl(lambda: g(p, x, y), lambda r: r[0].numpy(), "trace(vmap(grad(loss), in_axes=(None, 0, 0)))",
                lambda: g(p, x, y)[2].numpy())


def per_example_jax(jax) -> Impl:
    jnp = jax.numpy
    x_, y_, p0 = _mlp_data()
    x, y = jnp.asarray(x_), jnp.asarray(y_)
    p = tuple(jnp.asarray(a) for a in p0)

    def loss(p, x, y):
        w1, b1, w2, b2 = p
        h = jnp.tanh(x @ w1 + b1)
        logits = h @ w2 + b2
        return -jnp.sum(y * jax.nn.log_softmax(logits))
    g = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))
    return Impl(lambda: g(p, x, y), jax.block_until_ready, "jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))",
                lambda: np.asarray(g(p, x, y)[2]))


def build_transforms(fw) -> list:
    jaxish, jax = fw["jaxish"], fw.get("jax")
    hess = {"jaxish": lambda: hess_jaxish(jaxish), "NumPy": hess_numpy}
    pex = {"jaxish": lambda: per_example_jaxish(jaxish), "NumPy": _per_example_numpy}
    if jax is not None:
        hess["JAX"] = lambda: hess_jax(jax)
        pex["JAX"] = lambda: per_example_jax(jax)
    return [Case("7a", "transforms", f"trace(hessian(f)), f = sum(tanh(W@x)**2) + sum(exp(-x*x)), n = {HESS_N}",
                 "us", hess, check_rtol=2e-3, check_atol=2e-4),
            Case("7b", "transforms", "per-example MLP gradients: vmap(grad(loss), in_axes=(None, 0, 0)), batch 128",
                 "us", pex, check_rtol=2e-3, check_atol=2e-5)]
