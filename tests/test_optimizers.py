"""jaxish.optimizers: several steps against the update formulas written here in NumPy (float64), on Variables
(eager and inside @trace) and on pytrees (eager and traced), and against torch.optim when torch is importable."""
import math

import numpy as np
import pytest

import jaxish as jx
from jaxish import optimizers as optim
from jaxish.optimizers import schedules

STEPS = 5
SHAPES = {"w": (3, 2), "b": (2,)}


def _grads(seed=0):
    rng = np.random.default_rng(seed)
    return [{k: rng.normal(size=s) for k, s in SHAPES.items()} for _ in range(STEPS)]


def _params(seed=1):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s) for k, s in SHAPES.items()}


# ---- reference formulas (torch.optim's, in NumPy float64) ----
def ref_sgd(p, g, s, t, lr, momentum=0.0, nesterov=False):
    if not momentum:
        return p - lr * g
    s["b"] = momentum * s.get("b", 0.0) + g
    return p - lr * (g + momentum * s["b"] if nesterov else s["b"])


def ref_adam(p, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=0.0):
    p = p * (1 - lr * weight_decay)
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g * g
    v = s["v"]
    if amsgrad:
        v = s["vmax"] = np.maximum(s.get("vmax", 0.0), v)
    return p - lr * (s["m"] / (1 - beta_1 ** t)) / (np.sqrt(v / (1 - beta_2 ** t)) + epsilon)


def ref_rmsprop(p, g, s, t, lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
    if centered:
        s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
        d = np.sqrt(s["v"] - s["a"] ** 2) + epsilon
    else:
        d = np.sqrt(s["v"]) + epsilon
    if momentum:
        s["b"] = momentum * s.get("b", 0.0) + g / d
        return p - lr * s["b"]
    return p - lr * g / d


CASES = {
    "sgd": (lambda: optim.SGD(0.1), ref_sgd, {}),
    "sgd_momentum": (lambda: optim.SGD(0.1, momentum=0.9), ref_sgd, {"momentum": 0.9}),
    "sgd_nesterov": (lambda: optim.SGD(0.1, momentum=0.8, nesterov=True), ref_sgd,
                     {"momentum": 0.8, "nesterov": True}),
    "adam": (lambda: optim.Adam(0.05), ref_adam, {}),
    "adam_amsgrad": (lambda: optim.Adam(0.05, beta_1=0.8, beta_2=0.9, amsgrad=True), ref_adam,
                     {"beta_1": 0.8, "beta_2": 0.9, "amsgrad": True}),
    "adamw": (lambda: optim.AdamW(0.05, weight_decay=0.1), ref_adam, {"weight_decay": 0.1}),
    "rmsprop": (lambda: optim.RMSprop(0.01), ref_rmsprop, {}),
    "rmsprop_centered_momentum": (lambda: optim.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True), ref_rmsprop,
                                  {"rho": 0.8, "momentum": 0.5, "centered": True}),
}
_LR = {"sgd": 0.1, "sgd_momentum": 0.1, "sgd_nesterov": 0.1, "adam": 0.05, "adam_amsgrad": 0.05, "adamw": 0.05,
       "rmsprop": 0.01, "rmsprop_centered_momentum": 0.01}


def reference(case, lr_at=None):
    """Parameters after each step, float64."""
    _, rule, kw = CASES[case]
    p, states, out = _params(), {k: {} for k in SHAPES}, []
    for t, g in enumerate(_grads(), start=1):
        lr = _LR[case] if lr_at is None else lr_at(t - 1)
        p = {k: rule(p[k], g[k], states[k], t, lr, **kw) for k in SHAPES}
        out.append(p)
    return out


def _check(got, want, step, how):
    for k in SHAPES:
        np.testing.assert_allclose(np.asarray(got[k], np.float64), want[k], rtol=2e-5, atol=2e-6,
                                   err_msg=f"{how}: {k} after step {step + 1}")


@pytest.mark.parametrize("case", list(CASES))
def test_apply_gradients_eager(case):
    opt = CASES[case][0]()
    vs = {k: jx.Variable(v.astype(np.float32)) for k, v in _params().items()}
    for step, (g, want) in enumerate(zip(_grads(), reference(case))):
        opt.apply_gradients([(jx.constant(g[k], jx.float32), vs[k]) for k in SHAPES])
        _check({k: v.numpy() for k, v in vs.items()}, want, step, "eager")
    assert int(opt.iterations) == STEPS
    assert set(opt.slot_names) <= {"momentum", "velocity", "velocity_hat", "average_gradient"}
    for name in opt.slot_names:
        assert opt.get_slot(vs["w"], name).shape == SHAPES["w"]


@pytest.mark.parametrize("case", list(CASES))
def test_apply_gradients_traced(case, cpu_backend):
    """The whole step (update, slots, counter) compiles; the slots are created during the first trace."""
    opt = CASES[case][0]()
    vs = {k: jx.Variable(v.astype(np.float32)) for k, v in _params().items()}

    @jx.trace
    def step(gw, gb):
        opt.apply_gradients([(gw, vs["w"]), (gb, vs["b"])])

    for i, (g, want) in enumerate(zip(_grads(), reference(case))):
        step(jx.constant(g["w"], jx.float32), jx.constant(g["b"], jx.float32))
        _check({k: v.numpy() for k, v in vs.items()}, want, i, "traced")
    assert step.cache_info().traces == 1
    assert int(opt.iterations) == STEPS
    assert len(opt.variables) == 2 + 2 * len(opt.slot_names)


@pytest.mark.parametrize("case", ["sgd_nesterov", "adamw", "rmsprop_centered_momentum"])
@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
def test_functional_update(case, traced, cpu_backend):
    opt = CASES[case][0]()

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    if traced:
        step = jx.trace(step)
    params = {k: jx.constant(v, jx.float32) for k, v in _params().items()}
    state = opt.init(params)
    for i, (g, want) in enumerate(zip(_grads(), reference(case))):
        params, state = step(params, state, {k: jx.constant(v, jx.float32) for k, v in g.items()})
        _check({k: v.numpy() for k, v in params.items()}, want, i, "functional")
    assert int(state.count) == STEPS
    if traced:
        assert step.cache_info().traces == 1


def test_float64_parameters_keep_their_dtype():
    opt = optim.Adam(0.05)
    v = jx.Variable(_params()["w"])  # float64
    for g, want in zip(_grads(), reference("adam")):
        opt.apply_gradients([(jx.constant(g["w"]), v)])
        assert v.dtype == jx.float64
        np.testing.assert_allclose(v.numpy(), want["w"], rtol=1e-12)


def test_learning_rate_assignment_reaches_a_compiled_step():
    opt = optim.SGD(0.1)
    v = jx.Variable([1.0, 2.0])

    @jx.trace
    def step(g):
        opt.apply_gradients([(g, v)])

    step(jx.constant([1.0, 1.0]))
    opt.learning_rate = 0.5
    step(jx.constant([1.0, 1.0]))
    np.testing.assert_allclose(v.numpy(), [1.0 - 0.1 - 0.5, 2.0 - 0.1 - 0.5], rtol=1e-6)
    assert step.cache_info().traces == 1


# ---- schedules ----
def _np_exponential(step, lr=0.1, decay_steps=3, rate=0.5, staircase=False):
    p = step / decay_steps
    return lr * rate ** (math.floor(p) if staircase else p)


def _np_cosine(step, lr=0.1, decay_steps=4, alpha=0.1):
    s = min(step, decay_steps)
    return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * s / decay_steps)) + alpha)


def _np_piecewise(step, boundaries=(2, 4), values=(0.1, 0.05, 0.01)):
    for b, v in zip(boundaries, values):
        if step <= b:
            return v
    return values[-1]


SCHEDULES = {
    "exponential": (schedules.ExponentialDecay(0.1, 3, 0.5), _np_exponential),
    "exponential_staircase": (schedules.ExponentialDecay(0.1, 3, 0.5, staircase=True),
                              lambda s: _np_exponential(s, staircase=True)),
    "cosine": (schedules.CosineDecay(0.1, 4, alpha=0.1), _np_cosine),
    "piecewise": (schedules.PiecewiseConstantDecay([2, 4], [0.1, 0.05, 0.01]), _np_piecewise),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_values(name):
    sched, ref = SCHEDULES[name]
    for step in range(8):
        got = sched(step)
        assert got.dtype == jx.float32
        np.testing.assert_allclose(float(got), ref(step), rtol=1e-6, err_msg=f"step {step}")
        np.testing.assert_allclose(float(sched(jx.constant(step, jx.int64))), ref(step), rtol=1e-6)


@pytest.mark.parametrize("name", ["cosine", "piecewise"])
def test_schedule_in_a_traced_step(name, cpu_backend):
    """The rate is read from the iteration counter inside the compiled step: step k uses schedule(k)."""
    sched, ref = SCHEDULES[name]
    opt = optim.SGD(sched, momentum=0.9)
    vs = {k: jx.Variable(v.astype(np.float32)) for k, v in _params().items()}

    @jx.trace
    def step(gw, gb):
        opt.apply_gradients([(gw, vs["w"]), (gb, vs["b"])])

    for i, (g, want) in enumerate(zip(_grads(), reference("sgd_momentum", lr_at=ref))):
        step(jx.constant(g["w"], jx.float32), jx.constant(g["b"], jx.float32))
        _check({k: v.numpy() for k, v in vs.items()}, want, i, "scheduled")
    assert step.cache_info().traces == 1


def test_schedule_validation():
    with pytest.raises(ValueError, match="one more element"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(ValueError, match="decay_steps must be positive"):
        schedules.CosineDecay(0.1, 0)


# ---- slots, training, errors ----
def test_slots_created_in_a_trace_survive_a_retrace():
    opt = optim.Adam(0.1)
    v = jx.Variable(np.ones(3, np.float32))

    @jx.trace
    def step(x):
        loss, g = jx.value_and_grad(lambda w: jx.reduce_sum(jx.square(w * x)))(v.read_value())
        opt.apply_gradients([(g, v)])
        return loss

    step(jx.constant(2.0))
    m = opt.get_slot(v, "momentum")
    step(jx.constant([1.0, 2.0, 3.0]))  # a new signature: a retrace, which must not create Variables
    assert opt.get_slot(v, "momentum") is m
    assert step.cache_info().traces == 2 and int(opt.iterations) == 2
    # the same two steps eagerly
    opt2, v2 = optim.Adam(0.1), jx.Variable(np.ones(3, np.float32))
    for x in (jx.constant(2.0), jx.constant([1.0, 2.0, 3.0])):
        with jx.GradientTape() as tape:
            loss = jx.reduce_sum(jx.square(v2 * x))
        opt2.apply_gradients([(tape.gradient(loss, v2), v2)])
    np.testing.assert_allclose(v.numpy(), v2.numpy(), rtol=1e-6)
    np.testing.assert_allclose(m.numpy(), opt2.get_slot(v2, "momentum").numpy(), rtol=1e-6)


def test_minimize_fits_a_line():
    x = jx.constant(np.linspace(-1, 1, 32, dtype=np.float32)[:, None])
    y = 3.0 * x - 1.0
    w, b = jx.Variable(np.zeros((1, 1), np.float32)), jx.Variable(np.zeros(1, np.float32))
    opt = optim.Adam(0.1)
    for _ in range(300):
        opt.minimize(lambda: jx.reduce_mean(jx.square(x @ w + b - y)), [w, b])
    np.testing.assert_allclose([float(w.numpy()[0, 0]), float(b.numpy()[0])], [3.0, -1.0], atol=1e-2)


def test_errors():
    v = jx.Variable(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"SGD: the gradient of variable 'Variable:0' has shape \(3,\)"):
        optim.SGD(0.1).apply_gradients([(jx.zeros((3,)), v)])
    with pytest.raises(TypeError, match="has dtype float64, the parameter float32"):
        optim.SGD(0.1).apply_gradients([(jx.zeros((2, 3), jx.float64), v)])
    with pytest.raises(TypeError, match="must be a Variable"):
        optim.SGD(0.1).apply_gradients([(jx.zeros((2, 3)), jx.zeros((2, 3)))])
    with pytest.raises(ValueError, match="pass them"):
        opt = optim.AdamW(0.1)
        opt.update({"a": jx.ones(2)}, opt.init({"a": jx.ones(2)}))
    with pytest.raises(ValueError, match="learning_rate must be a finite non-negative"):
        optim.Adam(-1.0)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(0.1, nesterov=True)
    with pytest.raises(KeyError, match="no slot 'velocity'"):
        optim.SGD(0.1, momentum=0.9).get_slot(v, "velocity")
    optim.SGD(0.1).apply_gradients([(None, v)])  # a None gradient is skipped, as in Keras
    assert not v.numpy().any()


# ---- PyTorch, when installed ----
def _torch_case(case, torch, params):
    lr = _LR[case]
    ctor = {
        "sgd": lambda: torch.optim.SGD(params, lr=lr),
        "sgd_momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9),
        "sgd_nesterov": lambda: torch.optim.SGD(params, lr=lr, momentum=0.8, nesterov=True),
        "adam": lambda: torch.optim.Adam(params, lr=lr, eps=1e-7),
        "adam_amsgrad": lambda: torch.optim.Adam(params, lr=lr, betas=(0.8, 0.9), eps=1e-7, amsgrad=True),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, eps=1e-7, weight_decay=0.1),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7),
        "rmsprop_centered_momentum": lambda: torch.optim.RMSprop(params, lr=lr, alpha=0.8, eps=1e-7, momentum=0.5,
                                                                 centered=True),
    }
    return ctor[case]()


@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch_optim(case):
    torch = pytest.importorskip("torch")
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in _params().items()}
    topt = _torch_case(case, torch, list(tp.values()))
    opt = CASES[case][0]()
    vs = {k: jx.Variable(v) for k, v in _params().items()}  # float64, like the torch tensors
    for i, g in enumerate(_grads()):
        for k in SHAPES:
            tp[k].grad = torch.tensor(g[k], dtype=torch.float64)
        topt.step()
        opt.apply_gradients([(jx.constant(g[k]), vs[k]) for k in SHAPES])
        for k in SHAPES:
            np.testing.assert_allclose(vs[k].numpy(), tp[k].detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{case}: {k} after step {i + 1}")


def test_slots_cannot_appear_on_a_retrace_unless_built():
    opt = optim.Adam(0.1)
    a, b = jx.Variable(np.ones(2, np.float32)), jx.Variable(np.ones(3, np.float32))

    @jx.trace(static_argnums=1)
    def step(g, which):
        opt.apply_gradients([(g, a if which == "a" else b)])

    step(jx.ones(2), "a")
    with pytest.raises(ValueError, match=r"Adam: the slots of variable 'Variable:0' would be created while "
                                         r"retracing .*opt.build"):
        step(jx.ones(3), "b")
    opt.build([b])
    step(jx.ones(3), "b")
    assert int(opt.iterations) == 2


def test_functional_errors_name_the_leaf():
    opt = optim.SGD(0.1)
    params = {"layer": {"w": jx.ones((2, 2))}}
    with pytest.raises(ValueError, match=r"SGD: the gradient of leaf \['layer'\]\['w'\] has shape \(2,\)"):
        opt.update({"layer": {"w": jx.ones(2)}}, opt.init(params), params)
