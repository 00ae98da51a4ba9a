"""Running test code in several threads at once (imported by the thread-safety tests)."""
import threading


def in_threads(work, n: int, timeout: float = 600) -> list:
    """Run ``work(i)`` for ``i`` in ``range(n)``, each in its own thread, started together (a barrier).

    Returns the results in order; re-raises the first error a thread raised; fails if a thread is still
    running after ``timeout`` seconds (a deadlock)."""
    barrier = threading.Barrier(n)
    errors, results = [], [None] * n

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
        assert not t.is_alive(), "a thread hangs (deadlock?)"
    if errors:
        raise errors[0]
    return results
