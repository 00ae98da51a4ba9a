"""Timing and reporting helpers for ``benchmarks/run.py``.

A *case* is one row of the results table: the same workload written for
several frameworks ("columns"). Each framework supplies a ``step`` callable
(one iteration) and a ``sync`` callable that materialises a result (``.numpy()``
for jaxish, ``block_until_ready`` for JAX). A timed *block* runs ``inner``
steps and syncs the last result; the frameworks' blocks are interleaved round
robin (so a burst of machine noise hits every column alike) and each column
reports the median over its blocks of ``block time / inner``.
"""
from __future__ import annotations

import gc
import statistics
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

COLUMNS = ("jaxish", "NumPy", "JAX", "PyTorch")


@dataclass
class Impl:
    """One framework's version of a case."""

    step: Callable[[], object]
    sync: Callable[[object], object] = lambda r: r
    label: str = ""                       # what exactly runs (shown in the details table)
    check: Callable[[], object] | None = None  # returns a NumPy array compared against the NumPy column


@dataclass
class Case:
    key: str                               # e.g. "1a"
    group: str                             # workload name for --only (e.g. "linreg")
    title: str
    unit: str                              # "us", "ms" or "s"
    impls: dict = field(default_factory=dict)   # column -> Impl or a zero-arg factory returning Impl
    check_rtol: float = 1e-3
    check_atol: float = 1e-4
    per_call: int = 1                      # iterations one step() runs (a whole loop): times are per iteration


@dataclass
class Measurement:
    median: float | None = None            # seconds per step
    lo: float | None = None
    hi: float | None = None
    blocks: int = 0
    inner: int = 0
    label: str = ""
    error: str | None = None
    check: str = ""                        # result of the cross-check against NumPy


@dataclass
class Row:
    key: str
    title: str
    unit: str
    cells: dict                            # column -> Measurement (missing column: not available)
    ratio_floor: float = 0.0               # no ratio against a time below this (seconds): it would be noise


@dataclass
class Settings:
    blocks: int = 15
    target_block_s: float = 0.1
    warmup_steps: int = 3
    max_inner: int = 100_000


def _short_error(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}"[:160]


def _time_block(impl: Impl, inner: int) -> float:
    step, sync = impl.step, impl.sync
    gc.collect()
    t0 = time.perf_counter()
    r = None
    for _ in range(inner):
        r = step()
    sync(r)
    return time.perf_counter() - t0


def _calibrate(impl: Impl, settings: Settings) -> float:
    """Seconds per step, from blocks of 1, 2, 4, ... steps until one lasts a quarter of the target."""
    n = 1
    while True:
        t = _time_block(impl, n)
        if t >= settings.target_block_s / 4 or n >= settings.max_inner:
            return max(t / n, 1e-8)
        n *= 2 if t > settings.target_block_s / 64 else 8


def run_case(case: Case, settings: Settings, log: Callable[[str], None] = print) -> Row:
    impls: dict = {}
    cells: dict = {}
    gc.freeze()
    for col in COLUMNS:
        if col not in case.impls:
            continue
        m = Measurement()
        cells[col] = m
        try:
            impl = case.impls[col]
            if not isinstance(impl, Impl):
                impl = impl()
            m.label = impl.label
            t0 = time.perf_counter()
            impl.sync(impl.step())                  # traces/compiles, fills caches
            first = time.perf_counter() - t0
            for _ in range(settings.warmup_steps - 1):
                t1 = time.perf_counter()
                impl.sync(impl.step())
                if time.perf_counter() - t1 > settings.target_block_s:
                    break                           # slow steps: one more warm step is enough
            per = _calibrate(impl, settings)
            m.inner = int(min(settings.max_inner, max(1, round(settings.target_block_s / per))))
            impls[col] = impl
            log(f"    {col:8s} first step {first:7.2f} s, ~{per * 1e6:10.1f} us/step, {m.inner} steps/block")
        except Exception as e:  # noqa: BLE001 - a failing framework is reported, not fatal
            m.error = _short_error(e)
            log(f"    {col:8s} FAILED: {m.error}")
            log("      " + "      ".join(traceback.format_exception(e)[-3:]).rstrip())
    # move everything alive now (four frameworks' modules, this case's data) out of the cyclic GC's sight: a full
    # collection would otherwise walk all of it (~0.1 s with jax and torch loaded), whichever framework triggers it
    gc.freeze()
    # cross-check results against NumPy (before timing, so the checks see fresh state where they reset it)
    ref = None
    if "NumPy" in impls and impls["NumPy"].check is not None:
        try:
            ref = impls["NumPy"].check()
        except Exception as e:  # noqa: BLE001
            cells["NumPy"].check = f"check failed: {_short_error(e)}"
    for col, impl in impls.items():
        if col == "NumPy" or impl.check is None or ref is None:
            continue
        try:
            cells[col].check = _compare(impl.check(), ref, case.check_rtol, case.check_atol)
        except Exception as e:  # noqa: BLE001
            cells[col].check = f"check failed: {_short_error(e)}"
    times: dict = {col: [] for col in impls}
    cols = list(impls)
    for b in range(settings.blocks):
        rot = cols[b % len(cols):] + cols[:b % len(cols)] if cols else []
        for col in rot:
            try:
                times[col].append(_time_block(impls[col], cells[col].inner) / cells[col].inner)
            except Exception as e:  # noqa: BLE001
                cells[col].error = _short_error(e)
                cols.remove(col)
    for col, ts in times.items():
        m = cells[col]
        if ts and m.error is None:
            ts = [t / case.per_call for t in ts]
            m.median, m.lo, m.hi, m.blocks = statistics.median(ts), min(ts), max(ts), len(ts)
    return Row(case.key, case.title, case.unit, cells)


def _compare(got, ref, rtol, atol) -> str:
    import numpy as np
    got = [np.asarray(g, dtype=np.float64) for g in (got if isinstance(got, (list, tuple)) else [got])]
    ref = [np.asarray(r, dtype=np.float64) for r in (ref if isinstance(ref, (list, tuple)) else [ref])]
    if len(got) != len(ref) or any(g.shape != r.shape for g, r in zip(got, ref)):
        return "MISMATCH (shapes)"
    err = max(float(np.max(np.abs(g - r) / (atol + rtol * np.abs(r)), initial=0.0)) for g, r in zip(got, ref))
    return "ok" if err <= 1.0 else f"MISMATCH (err {err:.3g}x tolerance)"


# ---------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------
_SCALE = {"us": 1e6, "ms": 1e3, "s": 1.0}


def fmt_time(seconds: float | None, unit: str) -> str:
    if seconds is None:
        return "—"
    v = seconds * _SCALE[unit]
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "—"
    r = a / b
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×" if r < 1000 else f"{r:,.0f}×"


def cell_text(row: Row, col: str) -> str:
    m = row.cells.get(col)
    if m is None:
        return "n/a"
    if m.error is not None:
        return "FAILED"
    return fmt_time(m.median, row.unit)


def table_rows(rows: list, columns: list) -> tuple:
    others = [c for c in columns if c != "jaxish"]
    header = ["#", "workload", "unit", *columns] + [f"jaxish/{c}" for c in others]
    body = []
    for r in rows:
        jx = r.cells.get("jaxish")
        jt = jx.median if jx is not None and jx.error is None else None
        ratios = []
        for c in others:
            m = r.cells.get(c)
            ok = m is not None and m.error is None and m.median is not None and m.median >= r.ratio_floor
            ratios.append(fmt_ratio(jt, m.median if ok else None))
        body.append([r.key, r.title, r.unit + ("/call" if r.unit != "s" else ""),
                     *[cell_text(r, c) for c in columns], *ratios])
    return header, body


def text_table(header: list, body: list) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    left = {0, 1, 2}

    def line(cells):
        return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), sep] + [line(b) for b in body])


def md_table(header: list, body: list) -> str:
    align = ["---" if i < 3 else "---:" for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), line(align)] + [line(b) for b in body])


def details_rows(rows: list, columns: list) -> tuple:
    header = ["#", "framework", "what runs", "median", "min", "max", "spread", "blocks × steps", "check / error"]
    body = []
    for r in rows:
        for c in columns:
            m = r.cells.get(c)
            if m is None:
                continue
            if m.error is not None:
                body.append([r.key, c, m.label, "FAILED", "", "", "", "", m.error])
                continue
            spread = "" if not m.median or m.lo is None else f"±{(m.hi - m.lo) / 2 / m.median * 100:.0f}%"
            body.append([r.key, c, m.label, f"{fmt_time(m.median, r.unit)} {r.unit}", fmt_time(m.lo, r.unit),
                         fmt_time(m.hi, r.unit), spread, f"{m.blocks} × {m.inner}" if m.inner else f"{m.blocks}",
                         m.check])
    return header, body

