"""The on-disk cache of generated modules (and Numba's machine code beside them).

Each generated module is written to ``<cache dir>/<module>.py`` where the
module name holds the hash of its content; Numba's compiled code for its
``cache=True`` functions goes to ``<cache dir>/__pycache__`` (``.nbi`` index,
``.nbc`` data), so a new process loads machine code instead of compiling.

Guarantees:

* every file is written atomically (temp file + ``os.replace``): a crash or a
  full disk never leaves a half-written file under its final name (stale temp
  files of killed processes are deleted by the next eviction sweep);
* a module file whose content does not match its name, and Numba cache files
  that fail to load or belong to another function, are deleted and rebuilt
  with a :class:`~jaxish.CacheWarning`;
* when the cache cannot be written (disk full, read-only file system, no
  permission) the graph still runs compiled (compiled in memory) and a
  ``CacheWarning`` says why, once per directory and cause; a read-only cache
  that is already populated is used for loading;
* the directory is kept under ``jaxish.config`` ``disk_cache_max_bytes``
  (default 1 GiB, ``JAXISH_CACHE_MAX_BYTES``) by deleting the least recently
  used modules (and their machine code), checked when this process first
  writes to it and then every 64 writes.

Loaded modules are reference counted through :class:`ModuleHandle`: when the
last compiled graph using a module is dropped (from the bounded in-memory
caches, or by ``jaxish.clear_cache()``), the module leaves ``sys.modules`` and
its namespace is cleared, which lets Numba free its dispatchers (their
globals hold the dispatchers themselves, a cycle Numba never breaks).

``JAXISH_CACHE_DIR`` (or ``jaxish.config.set_cache_dir``) chooses the directory
(default: the user's cache folder, ``~/.cache/jaxish``); ``JAXISH_DISK_CACHE=0``
(or ``jaxish.config.set_disk_cache(False)``) disables the disk cache.
``cache_dir`` and ``disk_cache_enabled`` here are :mod:`jaxish.config`'s.
"""
from __future__ import annotations

import errno
import glob
import importlib.util
import linecache
import os
import re
import sys
import threading
import time
import types
import warnings
import weakref

from numba.core.caching import CompileResultCacheImpl as _NumbaCacheImpl
from numba.core.caching import FunctionCache, _CacheLocator
from numba.core.dispatcher import Dispatcher
from numba.core.registry import CPUDispatcher

from ...config import cache_dir, cache_limit, disk_cache_enabled
from ...errors import CacheWarning
from ...fileio import atomic_write
from ...lru import KeyedLocks
from .argtypes import ArgTypes

STALE_TEMP_SECONDS = 600      # temp files older than this belong to a killed process
SWEEP_EVERY_WRITES = 64       # eviction check frequency (files written by this process)
_EVICT_TO = 0.8               # an eviction sweep deletes down to this fraction of the limit

_REGISTRY_LOCK = threading.RLock()
_LIVE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()   # module name -> ModuleHandle
_LOADING = KeyedLocks()
_WARNED: set = set()
_WRITES = [SWEEP_EVERY_WRITES]  # files written since the last sweep (the first write sweeps)
_SWEEP_LOCK = threading.Lock()


# ---------------------------------------------------------------------------
# warnings
# ---------------------------------------------------------------------------
_REASONS = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied (read-only directory?)", errno.EPERM: "operation not permitted",
            errno.EDQUOT: "the disk quota is exceeded"}


def describe_os_error(e: OSError) -> str:
    """A short human reason for a failed file operation: 'the disk is full', ..."""
    return _REASONS.get(e.errno, f"{type(e).__name__}: {e.strerror or e}")


def _warn(message: str, once_key=None) -> None:
    if once_key is not None:
        with _REGISTRY_LOCK:
            if once_key in _WARNED:
                return
            _WARNED.add(once_key)
    warnings.warn(message, CacheWarning, stacklevel=3)


def _warn_write_failure(what: str, e: OSError) -> None:
    _warn(f"jaxish: cannot write {what} to the kernel cache {cache_dir()} ({describe_os_error(e)}); "
          f"compiled code is kept in memory only and will be compiled again by the next process",
          once_key=(cache_dir(), e.errno))


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def _write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (never half-written; the temp file is ``.tmp-*.py``, which the sweep
    of stale files recognises)."""
    atomic_write(path, lambda f: f.write(text), "w", prefix=".tmp-", suffix=".py")
    _note_write()


def _ensure_file(name: str, source: str) -> str | None:
    """The path of an up-to-date file for module ``name``, or None when it cannot be written."""
    d = cache_dir()
    path = os.path.join(d, name + ".py")
    try:
        with open(path) as f:
            current = f.read()
    except FileNotFoundError:
        current = None
    except (OSError, UnicodeDecodeError):
        current = ""
    if current == source:
        _touch(path)
        return path
    if current is not None:
        _warn(f"jaxish: the cache file {path} was damaged or foreign; rebuilding it")
        purge_numba_cache(name)
    try:
        os.makedirs(d, exist_ok=True)
        _write_atomic(path, source)
    except OSError as e:
        _warn_write_failure(f"the module {name}", e)
        return None
    return path


def _touch(path: str) -> None:
    """Mark a file as recently used (for eviction); harmless on a read-only cache."""
    try:
        os.utime(path)
    except OSError:
        pass


def purge_numba_cache(name: str) -> None:
    """Delete Numba's cache files (index and data) for module ``name``."""
    pyc = os.path.join(cache_dir(), "__pycache__")
    try:
        names = os.listdir(pyc)
    except OSError:
        return
    for f in names:
        if f.startswith(name + "."):
            try:
                os.unlink(os.path.join(pyc, f))
            except OSError:
                pass


# ---------------------------------------------------------------------------
# Numba's cache, pointed at our directory and made fault tolerant
# ---------------------------------------------------------------------------
class _Locator(_CacheLocator):
    """Machine code lives in ``__pycache__`` beside the module, writable or not.

    The source stamp is the file name: it holds the hash of the content, so a
    cache copied elsewhere (new modification times) stays valid.
    """

    def __init__(self, py_func, py_file: str):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(os.path.dirname(os.path.abspath(py_file)), "__pycache__")

    def ensure_cache_path(self) -> None:
        os.makedirs(self._cache_path, exist_ok=True)

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self):
        return os.path.basename(self._py_file)

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        return cls(py_func, py_file)


class _CacheImpl(_NumbaCacheImpl):
    _locator_classes = [_Locator]


class _ForeignEntry(Exception):
    pass


def before_compile() -> None:
    """Called before Numba compiles generated code: imports Numba's array maths (which its first compile
    does) without importing SciPy.

    ``numba.np.arraymath`` asks at import whether BLAS is there by importing
    ``scipy.linalg.cython_blas``, about 0.2 s of a process's first compile.
    Here the question is answered by looking for the file; the real import
    (and Numba's check of its integer width) happens when a BLAS call
    (``np.dot``) is compiled or first run. A process that only loads machine
    code from the disk cache imports neither (``_ready_to_load``).
    """
    if "numba.np.arraymath" in sys.modules:
        return
    try:
        from numba.core.compiler_lock import global_compiler_lock
        from numba.np import linalg
        real = linalg.ensure_blas
    except (ImportError, AttributeError):  # pragma: no cover - another Numba: let it do as it does
        return

    def probe():
        spec = importlib.util.find_spec("scipy")   # finds the package without importing it
        for d in (spec.submodule_search_locations or ()) if spec is not None else ():
            if glob.glob(os.path.join(glob.escape(d), "linalg", "cython_blas.*")):
                return
        raise ImportError("scipy 0.16+ is required for linear algebra")

    with global_compiler_lock:
        linalg.ensure_blas = probe
        try:
            from numba.np import arraymath
        except Exception:  # noqa: BLE001 - the first compile imports it again and reports the error
            return
        finally:
            linalg.ensure_blas = real
        if getattr(arraymath, "ensure_blas", None) is probe:
            arraymath.ensure_blas = real


_READY: list = []


def _ready_to_load(target_context) -> None:
    """Make the target context able to link and run machine code loaded from disk.

    Numba refreshes the whole context before loading (imports and installs
    every typing and lowering registry, ~0.15 s, a third of a warm start):
    only compiling needs that, and every compile does it itself
    (``compiler.compile_extra``). Loaded code needs the runtime (NRT) and the
    symbols Numba adds to LLVM's table when its modules are imported (the hash
    secret of ``numba.cpython.hashing``); the C helpers, exception classes and
    libm functions are added when the context is created, and code that
    needs more (parallel code: its thread pool) carries its own ``reload_init``.
    """
    if not _READY:
        import numba.cpython.hashing  # noqa: F401  (adds the hash secret's symbols)
        from numba.core.runtime import rtsys
        rtsys.initialize(target_context)
        _READY.append(True)


class _FunctionCache(FunctionCache):
    """Numba's per-function cache; damaged or foreign entries are purged and rebuilt, write failures warn."""

    _impl_class = _CacheImpl

    def load_overload(self, sig, target_context):
        try:
            _ready_to_load(target_context)   # in place of Numba's target_context.refresh()
            with self._guard_against_spurious_io_errors():
                cres = self._load_overload(sig, target_context)
            if cres is None:
                before_compile()   # Numba compiles next
            return cres
        except Exception as e:  # noqa: BLE001 - whatever is wrong with the files, they are rebuilt, never trusted
            module = self._py_func.__module__
            _warn(f"jaxish: Numba's cache files for {module} were damaged or foreign ({type(e).__name__}: "
                  f"{str(e)[:120]}); deleting and rebuilding them")
            purge_numba_cache(module)
            before_compile()
            return None

    def _load_overload(self, sig, target_context):
        if not self._enabled:
            return None
        data = self._cache_file.load(self._index_key(sig, target_context.codegen()))
        if data is None:
            return None
        fndesc, signature = data[1], data[3]
        fn = self._py_func
        if (fndesc.modname, fndesc.qualname) != (fn.__module__, fn.__qualname__):
            raise _ForeignEntry(f"an entry holds {fndesc.modname}.{fndesc.qualname}")
        if tuple(signature.args) != tuple(sig):
            raise _ForeignEntry(f"an entry for {tuple(sig)} holds {signature}")
        return self._impl.rebuild(target_context, data)

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except OSError as e:
            _warn_write_failure(f"the machine code of {self._py_func.__module__}", e)
            return
        except Exception as e:  # noqa: BLE001 - failing to save never fails a compile
            _warn(f"jaxish: could not save the machine code of {self._py_func.__module__} "
                  f"({type(e).__name__}: {str(e)[:120]})")
            return
        _note_write()


def is_cached_function(disp) -> bool:
    """Does this dispatcher save and load its machine code through the disk cache?"""
    return isinstance(getattr(disp, "_cache", None), _FunctionCache)


def on_disk(disp, sig: tuple) -> bool:
    """Is machine code for ``sig`` in the disk cache index of this dispatcher (without loading it)?"""
    cache = disp._cache
    try:
        return cache._index_key(sig, disp.targetctx.codegen()) in cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 - a damaged index is the loader's business (it purges and rebuilds)
        return False


def writable(directory: str) -> bool:
    """Can machine code be saved under ``directory`` (its ``__pycache__``, or the directory to create it)?"""
    pyc = os.path.join(directory, "__pycache__")
    return os.access(pyc if os.path.isdir(pyc) else directory, os.W_OK)


# ---------------------------------------------------------------------------
# loading modules
# ---------------------------------------------------------------------------
class ModuleHandle:
    """A loaded generated module, kept usable while the handle (and those of its callers) lives."""

    __slots__ = ("module", "deps", "__weakref__")

    def __init__(self, module: types.ModuleType, deps: tuple):
        self.module = module
        self.deps = deps   # handles of the modules it imports (kernels of an entry module)


_CACHED_FUNCTIONS = re.compile(r"@njit\([^)]*cache=True[^)]*\)\s*\ndef (\w+)")


def load_module(name: str, source: str, deps: tuple = (), use_disk: bool | None = None) -> ModuleHandle:
    """Import generated ``source`` as module ``name`` (machine code through the disk cache when enabled).

    ``deps`` are the handles of modules that ``source`` imports; they must be
    loaded first and stay loaded as long as this one. Thread-safe: a module is
    executed once, and only put into ``sys.modules`` once complete.
    """
    handle = _LIVE.get(name)
    if handle is not None:
        return handle
    with _LOADING.hold(name):
        handle = _LIVE.get(name)
        if handle is not None:
            return handle
        if use_disk is None:
            use_disk = disk_cache_enabled()
        mod = _exec_module(name, source, _ensure_file(name, source) if use_disk else None)
        handle = ModuleHandle(mod, tuple(deps))
        with _REGISTRY_LOCK:
            sys.modules[name] = mod
            _LIVE[name] = handle
        weakref.finalize(handle, _release, name, mod)
        return handle


def _exec_module(name: str, source: str, path: str | None) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = path or f"<jaxish generated {name}>"
    # Numba's own cache=True would pick its own locations (and fail on a read-only directory): the
    # functions are compiled without it and given a _FunctionCache of our directory instead.
    exec(compile(source.replace("cache=True", "cache=False"), mod.__file__, "exec"), mod.__dict__)
    for disp in mod.__dict__.values():
        if isinstance(disp, CPUDispatcher):   # not a CUDA module's kernels: their typing is their own
            disp.typeof_pyval = ArgTypes(disp)   # types arrays without importing numpy.ma (see argtypes)
    if path is None:
        before_compile()   # no machine code to load: what this module runs is compiled here
    else:
        for fn_name in _CACHED_FUNCTIONS.findall(source):
            disp = mod.__dict__.get(fn_name)
            if isinstance(disp, Dispatcher):
                disp._cache = _FunctionCache(disp.py_func)
    return mod


def _release(name: str, mod: types.ModuleType) -> None:
    """Unload a module no compiled graph uses any more, so that Numba can free its dispatchers."""
    with _REGISTRY_LOCK:
        if sys.modules.get(name) is mod:
            del sys.modules[name]
    linecache.cache.pop(mod.__dict__.get("__file__"), None)
    mod.__dict__.clear()


def loaded_modules() -> list:
    """Names of the generated modules loaded in this process."""
    return list(_LIVE.keys())


# ---------------------------------------------------------------------------
# size limit
# ---------------------------------------------------------------------------
def note_write() -> None:
    """Count a file written to the cache (on this process's behalf); sweeps every ``SWEEP_EVERY_WRITES``."""
    _note_write()


def _note_write() -> None:
    with _SWEEP_LOCK:
        _WRITES[0] += 1
        due = _WRITES[0] >= SWEEP_EVERY_WRITES
        if due:
            _WRITES[0] = 0
    if due:
        evict()


def _scan(d: str) -> dict:
    """``{module: [last use, bytes, paths]}`` for the cache directory; deletes stale temp files."""
    units: dict = {}
    now = time.time()
    for sub in (d, os.path.join(d, "__pycache__")):
        try:
            entries = list(os.scandir(sub))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if not e.is_file(follow_symlinks=False):
                continue
            if e.name.startswith(".tmp-") or ".tmp." in e.name:
                if now - st.st_mtime > STALE_TEMP_SECONDS:
                    _unlink(e.path)
                continue
            if not e.name.startswith("_jx_"):
                continue
            unit = units.setdefault(e.name.split(".")[0], [0.0, 0, []])
            unit[0] = max(unit[0], st.st_mtime)
            unit[1] += st.st_size
            unit[2].append(e.path)
    return units


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def evict(limit: int | None = None) -> int:
    """Delete least recently used modules until the cache is under ``limit`` bytes; returns bytes freed.

    Modules loaded in this process are kept. ``limit`` defaults to
    ``jaxish.config`` ``disk_cache_max_bytes``.
    """
    limit = cache_limit("disk_cache_max_bytes") if limit is None else limit
    units = _scan(cache_dir())
    total = sum(u[1] for u in units.values())
    if total <= limit:
        return 0
    target, freed = int(limit * _EVICT_TO), 0
    live = set(_LIVE.keys())
    for name, (_, size, paths) in sorted(units.items(), key=lambda kv: kv[1][0]):
        if total - freed <= target:
            break
        if name in live:
            continue
        for p in sorted(paths, key=lambda p: p.endswith(".py")):  # the .py last: its absence marks a gone unit
            _unlink(p)
        freed += size
    return freed


def cache_size() -> int:
    """Bytes used by the on-disk cache."""
    return sum(u[1] for u in _scan(cache_dir()).values())


def clear_disk_cache() -> None:
    """Delete jaxish's files from the on-disk cache (loaded modules keep working).

    Only jaxish's own files go (``_jx_*`` modules, their Numba files in
    ``__pycache__``, temp files); the directories stay, so a thread writing to
    the cache at the same moment is not disturbed, and nothing else that lives
    in a user-chosen ``JAXISH_CACHE_DIR`` is touched.
    """
    d = cache_dir()
    for folder in (d, os.path.join(d, "__pycache__")):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for n in names:
            if n.startswith(("_jx_", ".tmp-")):
                _unlink(os.path.join(folder, n))
