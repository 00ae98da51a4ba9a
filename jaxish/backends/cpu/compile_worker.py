"""Compile cold graphs in a helper process, so that LLVM's compile-time memory is not kept here.

LLVM (Numba's MCJIT engine, llvmlite's pass managers) never returns the memory
it allocated to compile code: about 1 MB per Numba compilation stays in the
process for good. Machine code *loaded* from the disk cache costs a fraction
of that. So when the disk cache is enabled and writable, the first call of a
graph whose machine code is not on disk asks a long-lived worker process to
compile it; the worker imports the generated modules from the cache directory,
compiles the entry function for the exact Numba signature of the call (its
kernels with it) and saves the machine code through :mod:`.disk_cache`; the
caller then loads it from disk. The worker is started (in the background)
after the first cold compile of the process, which is done in-process: a
process that compiles one graph waits for nothing.

Protocol: ``python -c _BOOT`` with pickled, length-prefixed messages on the
worker's stdin and a private copy of its stdout (its file descriptor 1 is
redirected to stderr, so stray prints cannot corrupt replies). One request at
a time (a lock); every wait has a deadline.

Failures never change results: when the worker cannot start, dies (even
``kill -9``), times out (``jaxish.config.compile_worker_timeout()`` per request, its
start included: ``JAXISH_COMPILE_WORKER_TIMEOUT``, default 600 s) or reports an
error, the caller compiles in-process exactly as without a worker (same
exceptions and warnings); no warning is issued for that (only a ``logging``
message on the ``jaxish`` logger), since the only cost is memory. The worker is
restarted at the next cold compile; after ``_MAX_FAILURES`` consecutive
failures it is not used again in this process (one logged warning). It is also
restarted after ``MAX_COMPILES`` compiles or when its RSS exceeds
``MAX_RSS_BYTES``, and killed at exit (it also exits by itself when its stdin
closes, i.e. when this process dies).

Turned off by ``JAXISH_COMPILE_WORKER=0`` or
``jaxish.config.set_compile_worker(False)``; never used when the disk cache is
disabled or not writable, nor where ``sys.executable`` is not a Python
interpreter (frozen or embedding applications) or on Windows.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
import warnings

from ...config import compile_worker_timeout, get_compile_worker, set_cache_dir

log = logging.getLogger("jaxish")

MAX_COMPILES = 500            # requests served before the worker is replaced
MAX_RSS_BYTES = 1 << 30       # worker RSS beyond which it is replaced
_MAX_FAILURES = 3             # consecutive start/crash/timeout failures before giving up in this process
_HEADER = struct.Struct("<Q")

_BOOT = ("import sys, json; sys.path[:0] = json.loads(sys.argv[1]); "
         "from jaxish.backends.cpu.compile_worker import serve; serve()")


class WorkerError(Exception):
    """The worker could not serve a request (did not start, died, timed out, broke the protocol)."""


# ---------------------------------------------------------------------------
# framing
# ---------------------------------------------------------------------------
def _write_message(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_message(fd: int, deadline: float | None = None):
    (n,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, n, deadline))


# ---------------------------------------------------------------------------
# the caller's side
# ---------------------------------------------------------------------------
class _Worker:
    """One worker process; ``request`` is called under ``_LOCK``."""

    def __init__(self):
        path = [os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))]
        path += [os.path.abspath(p or os.curdir) for p in sys.path if isinstance(p, str)]
        # the worker parses its configuration from this environment at import (no worker of its own); the
        # cache directory, which this process may have changed since, comes with each request
        env = dict(os.environ, JAXISH_COMPILE_WORKER="0")
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, json.dumps(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                     cwd=path[0], close_fds=True)
        self.served = 0

    def request(self, message: dict, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        try:
            _write_message(self.proc.stdin.fileno(), message)
            reply = _read_message(self.proc.stdout.fileno(), deadline)
        except TimeoutError:
            raise WorkerError(f"no reply within {timeout:g} s") from None
        except Exception as e:  # noqa: BLE001 - EOF, broken pipe, a reply that does not unpickle
            raise WorkerError(f"the worker died or broke the protocol ({type(e).__name__})") from None
        self.served += 1
        return reply

    def close(self, wait: float = 1.0) -> None:
        proc = self.proc
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


_LOCK = threading.Lock()
# starts: processes started; compiled: graphs it compiled; errors: compile errors it reported; failures: starts,
# crashes, timeouts; unused: compiled by it but then not loaded by the caller (should stay 0)
STATS = {"starts": 0, "compiled": 0, "errors": 0, "failures": 0, "unused": 0}
_STATE = {"worker": None, "failures": 0, "disabled": False}


def worker_pid() -> int | None:
    """The process id of the running worker, if any (for tests and diagnostics)."""
    w = _STATE["worker"]
    return w.proc.pid if w is not None and w.proc.poll() is None else None


def shutdown() -> None:
    """Stop the worker (it is started again when needed)."""
    with _LOCK:
        _discard()


def _discard(kill: bool = False) -> None:
    w, _STATE["worker"] = _STATE["worker"], None
    if w is not None:
        if kill:
            w.proc.kill()
        w.close()


def _forget_after_fork() -> None:
    """A forked child must not talk to its parent's worker (nor wait for a lock another thread held)."""
    global _LOCK
    _LOCK = threading.Lock()
    w, _STATE["worker"] = _STATE["worker"], None
    if w is not None:
        for stream in (w.proc.stdin, w.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        w.proc.returncode = 0   # not this process's child: never waited for


atexit.register(lambda: _discard(kill=True))   # an idle worker loses nothing; cache writes are atomic
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def available() -> bool:
    """Is the worker turned on (config, environment, platform, no repeated failures)?"""
    return get_compile_worker() and not _STATE["disabled"] and _interpreter_ok()


def _interpreter_ok() -> bool:
    """Can ``sys.executable -c`` run Python code? (Not in a frozen app or an embedding program; not on Windows.)"""
    name = os.path.basename(sys.executable or "").lower()
    return os.name == "posix" and name.startswith(("python", "pypy")) and not getattr(sys, "frozen", False)


def running() -> bool:
    """Has a worker been started (and not been discarded since)?"""
    return _STATE["worker"] is not None


def start() -> None:
    """Start the worker in the background (a no-op when it runs or is off).

    Starting takes about a second (importing Numba): the first cold compile of
    a process is done in-process and starts the worker afterwards, for the next.
    """
    if not _LOCK.acquire(blocking=False):   # another thread is using a worker
        return
    try:
        if _STATE["worker"] is None and available():
            _start_locked()
    finally:
        _LOCK.release()


def _start_locked() -> None:
    try:
        _STATE["worker"] = _Worker()
    except OSError as e:   # no interpreter to run
        _fail(f"cannot start {sys.executable}: {e}")
        return
    STATS["starts"] += 1


def _fail(why: str) -> None:
    STATS["failures"] += 1
    _discard(kill=True)
    _note_failure(why)


def compile_in_worker(modules: list, function: str, sig: tuple, cache_dir: str) -> bool:
    """Compile ``function`` of the last of ``modules`` (file paths, dependencies first) for ``sig`` in the worker.

    Returns True when the worker compiled it (its machine code is then in the
    disk cache), False when it could not (the caller compiles in-process).
    Never raises for a failure of the worker.
    """
    message = {"modules": modules, "function": function, "sig": sig, "cache_dir": cache_dir}
    if not _LOCK.acquire(timeout=compile_worker_timeout()):
        return False
    try:
        return _serve_locked(message)
    finally:
        _LOCK.release()


def _serve_locked(message: dict) -> bool:
    if not available():
        return False
    worker = _STATE["worker"]
    if worker is None:
        return False
    try:
        reply = worker.request(message, compile_worker_timeout())
    except WorkerError as e:
        _fail(str(e))
        return False
    except BaseException:   # KeyboardInterrupt mid-request: the protocol state is unknown
        _discard(kill=True)
        raise
    _STATE["failures"] = 0
    if worker.served >= MAX_COMPILES or reply.get("rss", 0) > MAX_RSS_BYTES:
        _discard()   # its LLVM memory grows with each compile: replaced by a fresh one, started now
        _start_locked()
    for category, text in reply.get("warnings", ()):
        warnings.warn(text, category, stacklevel=2)
    STATS["compiled" if reply["ok"] else "errors"] += 1
    if not reply["ok"]:
        log.debug("jaxish: the compile worker failed (%s); compiling in this process", reply["error"])
    return bool(reply["ok"])


def _note_failure(why: str) -> None:
    _STATE["failures"] += 1
    if _STATE["failures"] >= _MAX_FAILURES:
        _STATE["disabled"] = True
        log.warning("jaxish: the compile worker failed %d times in a row (last: %s); compiling in this "
                    "process from now on (compile-time memory is then kept)", _MAX_FAILURES, why)
    else:
        log.info("jaxish: the compile worker failed (%s); compiling in this process", why)


# ---------------------------------------------------------------------------
# the worker's side
# ---------------------------------------------------------------------------
def serve() -> None:
    """The worker's main loop: read requests from stdin until it closes."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the caller's business
    out = os.dup(1)
    os.dup2(2, 1)   # prints (Numba debug output, ...) go to stderr, never into replies
    inp = sys.stdin.fileno()
    from . import disk_cache
    disk_cache.SWEEP_EVERY_WRITES = 1 << 62   # eviction is the caller's job (it knows what it has loaded)
    disk_cache._WRITES[0] = 0
    while True:
        try:
            message = _read_message(inp)
        except EOFError:
            return
        _write_message(out, _handle(message))


def _handle(message: dict) -> dict:
    from ...errors import CacheWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _compile(message)
            reply = {"ok": True}
        except Exception as e:  # noqa: BLE001 - reported; the caller compiles in-process and raises there
            reply = {"ok": False, "error": f"{type(e).__name__}: {str(e)[:500]}"}
    # CacheWarnings are the caller's to give (it meets the same cache); others as an in-process compile would
    reply["warnings"] = [(w.category, str(w.message)) for w in caught
                         if not issubclass(w.category, CacheWarning) and _picklable(w.category)]
    reply["rss"] = _rss()
    return reply


def _compile(message: dict) -> None:
    from .codegen import digest
    from .disk_cache import load_module
    set_cache_dir(message["cache_dir"])
    handles = []
    try:
        for path in message["modules"]:
            name = os.path.basename(path)[:-3]
            with open(path) as f:
                source = f.read()
            # the caller checked this file; a file changed since must not be compiled into its cache
            if not name.endswith(digest(source)):
                raise ValueError(f"{path} does not match its name")
            handles.append(load_module(name, source, deps=tuple(handles), use_disk=True))
        getattr(handles[-1].module, message["function"]).compile(message["sig"])
    finally:
        # unloads the modules (Numba's objects are freed by the next automatic collection: a gc.collect() here
        # would cost tens of ms per request)
        del handles


def _picklable(obj) -> bool:
    try:
        pickle.dumps(obj)
        return True
    except Exception:  # noqa: BLE001
        return False


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
