import json
import os
from pathlib import Path

import platformdirs

# Tests run on CPU with a few threads: deterministic and friendly to 2-core CI.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("MPLBACKEND", "Agg")

from hypothesis import settings  # noqa: E402

# "ci" (default): derandomised, 25 examples per property unless a test sets its own bound —
# enough to hit the lattice ties and empty-group edge cases the strategies are built to make
# frequent, and what keeps `make test` under ~6 minutes on 2 cores (each example with a new
# shape recompiles the kernels). "thorough": 200 random examples, for a nightly or a change to
# a kernel: HYPOTHESIS_PROFILE=thorough pytest tests.
settings.register_profile("ci", deadline=None, max_examples=25, derandomize=True)
settings.register_profile("thorough", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _jax_compilation_cache(config) -> None:
    """JAX's persistent compilation cache for the test session and every process it starts.

    Most of the suite's time is XLA compiling kernels (each hypothesis shape, each device count,
    each subprocess and Ray worker compiles its own). With this cache a compiled executable is
    written once and loaded by every later compile of the same program: in the other xdist
    worker, in the multi-device and two-process subprocesses, the notebook kernel, Ray's workers
    — which inherit these variables — and in the next pytest run. The key is the program's HLO,
    the JAX/XLA version and the compile options (device count included), so a change to a kernel
    or to XLA_FLAGS is a miss, never a stale hit; executables are loaded, not re-derived, so
    results are bit-identical to a fresh compile. Lives in the user's cache folder (shared by
    every clone on the machine); a JAX_COMPILATION_CACHE_DIR already set wins, and JAXFAIR_TEST_JAX_CACHE=0
    turns it off.
    """
    if os.environ.get("JAXFAIR_TEST_JAX_CACHE", "1") == "0":
        return
    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        # In the user's cache folder beside jaxfair's scenario cache, not in the checkout: a fresh
        # clone (CI runs one) then starts warm from earlier runs on the same machine. Safe to share:
        # entries are keyed by program, JAX/XLA version and compile options.
        path = Path(platformdirs.user_cache_dir("jaxfair")) / "test-jax-compilation-cache"
        path.mkdir(parents=True, exist_ok=True)
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(path)
        if not hasattr(config, "workerinput"):  # the controller, before any worker or subprocess starts
            _trim(Path(path), _CACHE_BUDGET)
    # Cache every program, however fast it compiled (the defaults skip those under 1 s, which
    # is most of ours, each compiled many times over). No JAX_COMPILATION_CACHE_MAX_SIZE: with
    # it JAX rescans the whole directory under a file lock on every write (quadratic in the
    # entries, and a lock timeout is a warning that tests which turn warnings into errors would
    # see); the size is bounded by _trim at the start of a session instead.
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")


_CACHE_BUDGET = 1024**3  # bytes; a kernel edit orphans the old entries (~50 MB per full run)


def _trim(path: Path, budget: int) -> None:
    """Over ``budget`` bytes: delete the oldest entries (by write time) down to half of it."""
    entries = sorted(((p.stat().st_mtime, p.stat().st_size, p) for p in path.glob("*") if p.is_file()), reverse=True)
    total = sum(size for _, size, _ in entries)
    if total <= budget:
        return
    while entries and total > budget // 2:  # down to half, so that this runs rarely
        _, size, p = entries.pop()
        p.unlink(missing_ok=True)
        total -= size


def pytest_configure(config):
    _jax_compilation_cache(config)


# Longest modules first (xdist). The suite's wall time on 2 workers is set by its tail: a 90 s
# test handed out last keeps one worker busy while the other idles. And a test module is the
# unit of work: its module-scoped fixtures (a diagnosis, a CLI run that draws a dozen figures)
# and the kernels it compiles are built once, by one worker, instead of once per worker that
# happens to get one of its tests (measured on a fresh clone: ~30 s of the suite's 920 test-
# seconds were such duplicates). The controller hands out modules longest first by the seconds
# recorded on the previous run: in pytest's cache, else in tests/durations.json (committed, so a
# fresh clone's first run is ordered too; refresh it with JAXFAIR_TEST_DURATIONS_OUT=path).
# Long-marked tests are collected first (the same order on every worker, as xdist requires),
# which orders the modules when no duration is known.
_DURATIONS_KEY = "jaxfair/test-durations"
_DURATIONS_FILE = Path(__file__).with_name("durations.json")  # seconds per module, a fresh clone's ordering


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: file order kept within each half


_observed: dict[str, float] = {}  # this run: setup + call + teardown seconds per test


def pytest_runtest_logreport(report):  # on the controller this sees every worker's reports
    _observed[report.nodeid] = _observed.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    config = session.config
    if hasattr(config, "workerinput") or not _observed:
        return
    cache = getattr(config, "cache", None)
    known = cache.get(_DURATIONS_KEY, {}) if cache is not None else {}
    known.update({k: round(v, 2) for k, v in _observed.items()})
    if cache is not None:
        cache.set(_DURATIONS_KEY, known)
    out = os.environ.get("JAXFAIR_TEST_DURATIONS_OUT")
    if out:  # per module: what tests/durations.json holds
        modules: dict[str, float] = {}
        for nodeid, seconds in known.items():
            modules[_module(nodeid)] = modules.get(_module(nodeid), 0.0) + seconds
        Path(out).write_text(json.dumps({k: round(v, 1) for k, v in sorted(modules.items())}, indent=1) + "\n")


def _module_seconds(config) -> dict[str, float]:
    """Seconds per test module on the previous run: pytest's cache, else tests/durations.json."""
    cache = getattr(config, "cache", None)
    per_test = cache.get(_DURATIONS_KEY, {}) if cache is not None else {}
    if per_test:
        modules: dict[str, float] = {}
        for nodeid, seconds in per_test.items():
            modules[_module(nodeid)] = modules.get(_module(nodeid), 0.0) + seconds
        return modules
    return json.loads(_DURATIONS_FILE.read_text()) if _DURATIONS_FILE.exists() else {}


def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "load":
        return None  # another --dist mode: xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    seconds = _module_seconds(config)

    class LongestModuleFirst(LoadScopeScheduling):
        """xdist's scope scheduling with modules as scopes, the longest module handed out first."""

        def _split_scope(self, nodeid):
            return _module(nodeid)

        def _assign_work_unit(self, node):
            longest = max(self.workqueue, key=lambda scope: seconds.get(scope, 0.0))  # ties: collection order
            self.workqueue.move_to_end(longest, last=False)
            super()._assign_work_unit(node)

    return LongestModuleFirst(config, log)
