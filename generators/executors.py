"""Executors: run a stage's items on local threads (``local``) or across a Ray cluster (``ray``).

The local executor is each runner's own thread pool. The Ray executor is the same work on **Ray Data**: the
items become a dataset (``ray.data.from_items``, or ``from_huggingface`` for a ``datasets.Dataset``) and one
``map_batches`` runs them over an actor pool sized to the stage's bottleneck (:data:`STAGES`):

- ``io``: model-calling stages (judges, image APIs). Few actors (``model_workers``), each with
  ``in_flight`` requests at once through our backend layer (cache, retries, cost). A requests-per-minute
  limit is **one limit for the whole cluster**: one named actor (:class:`SharedRateLimiter`) hands out the
  start slots, so it is never multiplied by the number of actors.
- ``render``: ImgCoder (model calls interleaved with sandbox renders): each actor owns a ``RendererPool`` of
  ``cpus_per_render_worker`` zygotes and reserves that many CPUs, with ``in_flight`` items at once.
- ``gpu``: Diffusers pipelines: each actor holds one pipeline on ``gpus_per_worker`` GPUs and gets whole
  batches of the generator's ``batch_size``.

Results stream back to the driver, which is the **only writer** of the run folder / ``scores/`` (the same
atomic, idempotent appends as the local executor). Ray may re-run a batch after a worker died (actors restart,
tasks retry); the driver keeps the first result per id and drops repeats, so every record appears once.

Secrets: API keys go to the actors as a small object in Ray's object store, referenced (not inlined) from
the actor's constructor, and are set in the actor's process environment before any backend is built. They
are never put in ``runtime_env["env_vars"]``: Ray's runtime-env agent writes those to its log file in plain text.

Local Ray: with no ``address`` (and no ``RAY_ADDRESS`` or running cluster), Ray is started for the command on
127.0.0.1 only (every Ray process binds loopback; ``RAY_TMPDIR`` is honoured; no dashboard, no usage stats)
and shut down when the command ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pickle
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from scigenbench._optional import require

EXECUTORS = ("local", "ray")
#: stage kinds and what bounds them
STAGES = ("io", "render", "gpu")
#: environment variables holding secrets that are shipped to the actors when set on the driver
SECRET_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
#: non-secret settings passed to the workers through ``runtime_env["env_vars"]`` when set on the driver
FORWARDED_ENV = ("SCIGENBENCH_CACHE_DIR", "SCIGENBENCH_PRICES", "SCIGENBENCH_SANDBOX_ALLOW_WEAK",
                 "SCIGENBENCH_DATA_DIR", "OPENAI_BASE_URL", "HF_HUB_OFFLINE", "MPLBACKEND")
_LOCAL_OBJECT_STORE = 300 * 1024 * 1024


@dataclass
class RayOptions:
    """How the Ray executor runs a stage.

    Attributes:
        address: Ray cluster address (``ray://host:10001`` or ``host:6379``); ``None``: ``$RAY_ADDRESS``, else the
            cluster running on this machine, else a local Ray started on 127.0.0.1 for the command.
        model_workers: actors of model-calling (``io``) stages.
        in_flight: requests (items) in flight per model or render actor.
        render_workers: ImgCoder actors (``None``: the cluster's CPUs / ``cpus_per_render_worker``).
        cpus_per_render_worker: CPUs reserved by each render actor = sandbox zygotes in its ``RendererPool``.
        gpu_workers: Diffusers actors (``None``: the cluster's GPUs / ``gpus_per_worker``, at least 1).
        gpus_per_worker: GPUs per Diffusers actor (0 runs the pipeline on CPU, e.g. in tests).
        cache_dir: response-cache folder *as the workers see it* (default ``$SCIGENBENCH_CACHE_DIR`` of the
            driver, else each node's ``~/.cache/scigenbench``). Put it on shared storage for one cache.
        secret_env: further environment variables to ship to the actors as secrets (besides :data:`SECRET_ENV`
            and the ``api_key_env`` options of the specs).
        num_cpus: CPUs of a local Ray started for the command (``None``: Ray's count).
        object_store_memory: bytes of a local Ray's object store (default 300 MB).

    Actors that die are restarted and their batches retried by Ray Data (its defaults: without limit).
    """

    address: str | None = None
    model_workers: int = 2
    in_flight: int = 16
    render_workers: int | None = None
    cpus_per_render_worker: float = 1.0
    gpu_workers: int | None = None
    gpus_per_worker: float = 1.0
    cache_dir: str | None = None
    secret_env: tuple[str, ...] = ()
    num_cpus: int | None = None
    object_store_memory: int | None = None

    def __post_init__(self) -> None:
        for name in ("model_workers", "in_flight"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ray option {name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("render_workers", "gpu_workers"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"ray option {name} must be at least 1, got {value!r}")
        if self.cpus_per_render_worker <= 0:
            raise ValueError(f"cpus_per_render_worker must be > 0, got {self.cpus_per_render_worker!r}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"gpus_per_worker must be >= 0, got {self.gpus_per_worker!r}")


def resolve_options(ray_options: RayOptions | dict[str, Any] | None) -> RayOptions:
    """A :class:`RayOptions` from ``None``, a dict of its fields or itself."""
    if ray_options is None:
        return RayOptions()
    if isinstance(ray_options, RayOptions):
        return ray_options
    unknown = set(ray_options) - set(RayOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown ray option(s) {sorted(unknown)}; valid: "
                        f"{', '.join(RayOptions.__dataclass_fields__)}")
    return RayOptions(**ray_options)


def check_executor(executor: str) -> str:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    return executor


# -- starting and stopping Ray -------------------------------------------------------------------------------

def _import_ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return require("ray", extra="ray", purpose="--executor ray")


def _running_cluster_address() -> str | None:
    """``$RAY_ADDRESS``, or ``"auto"`` when this machine's Ray temp folder names a running cluster."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    tmp = Path(os.environ.get("RAY_TMPDIR") or "/tmp") / "ray" / "ray_current_cluster"
    return "auto" if tmp.exists() else None


@contextlib.contextmanager
def ray_session(options: RayOptions) -> Iterator[Any]:
    """Connect to Ray (or start a loopback-only local Ray) for the duration of the block; yields ``ray``.

    An already initialised Ray (e.g. the caller's own ``ray.init``) is used as it is and left running.
    """
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    runtime_env = {"env_vars": forwarded_env(options)}
    address = options.address or _running_cluster_address()
    started = False
    if address:
        if _is_loopback(address):
            _pin_loopback()
        try:
            ray.init(address=address, runtime_env=runtime_env, logging_level="WARNING", log_to_driver=False)
            started = True
        except ConnectionError:
            if options.address or os.environ.get("RAY_ADDRESS"):
                raise
    local = not started
    if local:
        try:
            _start_local(ray, options, runtime_env)
        except Exception:
            _reap(_child_processes(), grace=5)  # a start that failed half way leaves no process behind
            raise
    try:
        _quiet_ray_data()
        yield ray
    finally:
        spawned = _child_processes() if local else []
        ray.shutdown()
        _reap(spawned)


def _child_processes() -> list[Any]:
    """The Ray processes this one started (a local Ray: GCS, raylet, agents, workers)."""
    import psutil
    import ray

    ray_dir = os.path.dirname(ray.__file__)
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline, name = " ".join(proc.cmdline()), proc.name()
        except psutil.Error:
            continue
        if cmdline.startswith("ray::") or ray_dir in cmdline or name in ("raylet", "gcs_server"):
            found.append(proc)
    return found


def _reap(processes: list[Any], grace: float = 30.0) -> None:
    """Wait for the local Ray's processes to exit after ``ray.shutdown()``; kill the ones still there after
    ``grace`` seconds, so nothing of the command's Ray outlives it."""
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0]
    return host == "localhost" or host.startswith("127.")


def _pin_loopback() -> None:
    """Keep Ray on 127.0.0.1. Ray replaces 127.0.0.1 by the machine's public address (and its servers listen on
    every interface) unless multi-node clustering is off, which Ray reads from this variable at import time;
    the raylet and workers inherit it. When ray was imported before us, the module constant says it too."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


def _start_local(ray, options: RayOptions, runtime_env: dict[str, Any]) -> None:
    """A single-node Ray on 127.0.0.1 (nothing listens on another address), shut down by the caller."""
    _pin_loopback()
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=options.num_cpus,
             object_store_memory=options.object_store_memory or _LOCAL_OBJECT_STORE,
             runtime_env=runtime_env, logging_level="WARNING", log_to_driver=False)


def _quiet_ray_data() -> None:
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    with contextlib.suppress(Exception):  # newer Ray only
        ctx.enable_rich_progress_bars = False


def forwarded_env(options: RayOptions) -> dict[str, str]:
    """Non-secret settings the workers need (cache location, prices, sandbox switches)."""
    env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    if options.cache_dir:
        env["SCIGENBENCH_CACHE_DIR"] = str(options.cache_dir)
    return env


# -- secrets -------------------------------------------------------------------------------------------------

def secret_names(options: RayOptions, specs_options: Iterable[dict[str, Any]] = ()) -> list[str]:
    """Environment variables to ship as secrets: the defaults, ``secret_env`` and every ``api_key_env``."""
    names = list(SECRET_ENV) + list(options.secret_env)
    for opts in specs_options:
        if isinstance(opts, dict) and isinstance(opts.get("api_key_env"), str):
            names.append(opts["api_key_env"])
    return list(dict.fromkeys(names))


def ship_secrets(ray, names: Iterable[str]) -> list[Any]:
    """The driver's values of ``names`` in the object store; a one-element list holding the reference (a
    reference nested in a list is passed as it is, not inlined into the actor's creation task)."""
    values = {name: os.environ[name] for name in names if os.environ.get(name)}
    return [ray.put(values)]


def receive_secrets(box: list[Any] | None) -> None:
    """In an actor: set the shipped secrets in this process's environment (before building backends)."""
    if not box:
        return
    import ray

    for name, value in ray.get(box[0]).items():
        os.environ[name] = value


# -- one rate limit for the cluster ---------------------------------------------------------------------------

class _RateLimitActor:
    """Hands out request start slots for the whole cluster (a ``RateLimiter`` living in one actor)."""

    def __init__(self, rpm: float | None):
        from scigenbench.generators.backends.limits import RateLimiter

        self.limiter = RateLimiter(rpm)

    def reserve(self) -> float:
        return self.limiter.reserve()

    def pause_for(self, seconds: float) -> None:
        self.limiter.pause_for(seconds)


class SharedRateLimiter:
    """The ``RateLimiter`` interface backed by a named Ray actor, so every backend in the cluster that holds one
    shares a single requests-per-minute budget (and a server's ``Retry-After`` pauses them all).

    Picklable: it travels to the workers by name and looks its actor up there.
    """

    def __init__(self, name: str, namespace: str | None = None):
        self.name, self.namespace = name, namespace
        self._handle = None

    @classmethod
    def create(cls, ray, rpm: float | None) -> "SharedRateLimiter":
        name = f"scigenbench-rate-{uuid.uuid4().hex[:12]}"
        actor = ray.remote(num_cpus=0)(_RateLimitActor).options(name=name).remote(rpm)
        limiter = cls(name, ray.get_runtime_context().namespace)
        limiter._handle = actor
        return limiter

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.name, self.namespace, self._handle = state["name"], state["namespace"], None

    def _actor(self):
        if self._handle is None:
            import ray

            self._handle = ray.get_actor(self.name, namespace=self.namespace)
        return self._handle

    def reserve(self) -> float:
        import ray

        return float(ray.get(self._actor().reserve.remote()))

    def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)

    async def await_slot(self) -> None:
        delay = float(await self._actor().reserve.remote())
        if delay > 0:
            await asyncio.sleep(delay)

    def pause_for(self, seconds: float) -> None:
        self._actor().pause_for.remote(seconds)

    def close(self) -> None:
        import ray

        if self._handle is not None:
            with contextlib.suppress(Exception):
                ray.kill(self._handle)


# -- the generic map over an actor pool ----------------------------------------------------------------------

@dataclass
class Stage:
    """One ``map_batches`` stage.

    Attributes:
        kind: ``io``, ``render`` or ``gpu`` (see :data:`STAGES`).
        factory: picklable zero-argument callable run once in each actor; returns the *handler*: an object with
            ``process(item) -> result`` (called from ``in_flight`` threads) or ``process_batch(items) -> list``.
        name: shown in Ray's logs.
        batch_size: items per ``map_batches`` call (``gpu``: the pipeline batch).
        secrets: environment variable names to ship (see :func:`secret_names`).
        in_flight: items at once per actor (default: ``RayOptions.in_flight``; ``gpu``: 1).
    """

    kind: str
    factory: Callable[[], Any]
    name: str = "stage"
    batch_size: int | None = None
    secrets: list[str] = field(default_factory=list)
    in_flight: int | None = None


def stream(ray, stage: Stage, items: list[tuple[str, Any]] | Any, options: RayOptions, *,
           features: Any = None) -> Iterator[tuple[str, Any]]:
    """Run ``stage`` over ``items`` on the cluster; yield ``(key, result)`` as batches finish, each key once.

    Args:
        items: ``(key, item)`` pairs, or a ``datasets.Dataset`` with an ``id`` column (read with
            ``ray.data.from_huggingface``; each row is decoded with its features in the worker).
    """
    if stage.kind not in STAGES:
        raise ValueError(f"stage kind must be one of {STAGES}, got {stage.kind!r}")
    actors, per_actor, resources = pool_shape(ray, stage.kind, options)
    per_actor = stage.in_flight or per_actor
    # a few items per map_batches call amortise Ray Data's per-task cost; the actor keeps the next one queued
    batch = stage.batch_size or (1 if stage.kind == "gpu" else 4)
    if not len(items):
        return
    n_blocks = max(1, math.ceil(len(items) / batch))  # small blocks: batches start as soon as an actor is free
    if isinstance(items, list):
        data = ray.data.from_items([{"key": key, "payload": pickle.dumps(item)} for key, item in items],
                                   override_num_blocks=n_blocks)
    else:  # a datasets.Dataset
        data = ray.data.from_huggingface(items, override_num_blocks=n_blocks)
        features = items.features
    calls = max(1, math.ceil(per_actor / batch)) if stage.kind != "gpu" else 1
    compute = ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=calls + 1,
                                         max_concurrent_calls_per_actor=calls,
                                         enable_true_multi_threading=calls > 1)
    secrets = ship_secrets(ray, stage.secrets)
    mapped = data.map_batches(
        _BatchWorker, batch_size=batch, batch_format="pyarrow", compute=compute,
        fn_constructor_kwargs={"factory": stage.factory, "secrets": secrets, "threads": per_actor,
                               "features": features},
        **resources)
    seen: set[str] = set()
    for block in mapped.iter_batches(batch_size=None, batch_format="pyarrow"):
        for key, blob in zip(block.column("key").to_pylist(), block.column("result").to_pylist()):
            if key in seen:  # a batch Ray ran again after a worker died: its first result was kept
                continue
            seen.add(key)
            yield key, pickle.loads(blob)


def pool_shape(ray, kind: str, options: RayOptions) -> tuple[int, int, dict[str, Any]]:
    """(actors, items in flight per actor, resources per actor) for a stage of ``kind`` on this cluster."""
    total = ray.cluster_resources()
    if kind == "gpu":
        gpus = options.gpus_per_worker
        actors = options.gpu_workers or max(1, int(total.get("GPU", 0) // gpus) if gpus else 1)
        return actors, 1, {"num_gpus": gpus, "num_cpus": 1 if not gpus else 0.5}
    if kind == "render":
        cpus = options.cpus_per_render_worker
        actors = options.render_workers or max(1, int(total.get("CPU", 1) // cpus))
        return actors, options.in_flight, {"num_cpus": cpus}
    return options.model_workers, options.in_flight, {"num_cpus": 0.25}


class _BatchWorker:
    """The actor class of every stage: builds the handler once, then runs batches through it."""

    def __init__(self, factory: Callable[[], Any], secrets: list[Any], threads: int, features: Any = None):
        receive_secrets(secrets)
        self.handler = factory()
        self.features = features
        self.pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None

    def __call__(self, table):
        import pyarrow as pa

        if self.features is not None:
            rows = [self.features.decode_example(row) for row in table.to_pylist()]
            keys = [str(row["id"]) for row in rows]
        else:
            keys = table.column("key").to_pylist()
            rows = [pickle.loads(blob) for blob in table.column("payload").to_pylist()]
        if hasattr(self.handler, "process_batch"):
            results = list(self.handler.process_batch(rows))
        elif self.pool is not None and len(rows) > 1:
            results = list(self.pool.map(self.handler.process, rows))
        else:
            results = [self.handler.process(row) for row in rows]
        return pa.table({"key": pa.array(keys, pa.string()),
                         "result": pa.array([pickle.dumps(r) for r in results], pa.binary())})


def with_cluster_limits(backend_options: dict[str, Any], limiter: SharedRateLimiter | None,
                        options: RayOptions, n_actors: int) -> dict[str, Any]:
    """Backend options for one actor: the shared rate limiter instead of a private ``rpm``, ``in_flight``
    requests at once, and the cache folder the workers see. A backend ``budget_usd`` is split evenly over the
    actors (each actor's backend stops at its share)."""
    out = dict(backend_options)
    if limiter is not None:
        out.pop("rpm", None)
        out["rate_limiter"] = limiter
    out.setdefault("concurrency", options.in_flight)
    if options.cache_dir and "cache_dir" not in out:
        out["cache_dir"] = options.cache_dir
    if out.get("budget_usd") is not None and n_actors > 1:
        out["budget_usd"] = float(out["budget_usd"]) / n_actors
    return out



# -- rendering many programs ------------------------------------------------------------------------------------

class RenderHandler:
    """A render actor's handler: a ``RendererPool`` of ``workers`` zygotes (the actor's CPUs)."""

    def __init__(self, workers: int, timeout: float, dpi: int):
        from scigenbench.generators.sandbox import RendererPool

        self.pool = RendererPool(workers=workers).start()
        self.timeout, self.dpi = timeout, dpi

    def process(self, program: tuple[str, str]) -> Any:
        code, language = program
        return self.pool.render(code, language, timeout=self.timeout, dpi=self.dpi)


def render_all(programs: list[tuple[str, str, str]], *, executor: str = "local", workers: int | None = None,
               ray_options: RayOptions | dict[str, Any] | None = None, timeout: float = 30.0,
               dpi: int = 150) -> dict[str, Any]:
    """Render ``(key, code, language)`` programs in the sandbox; ``{key: RenderResult}``.

    ``local``: one ``RendererPool`` of ``workers`` zygotes here. ``ray``: render actors of
    ``cpus_per_render_worker`` zygotes each (``render_workers`` of them, default: the cluster's CPUs).
    """
    import functools

    check_executor(executor)
    if executor == "local":
        handler = RenderHandler(workers or len(os.sched_getaffinity(0)) or 1, timeout, dpi)
        try:
            with ThreadPoolExecutor(max_workers=handler.pool.workers) as threads:
                results = list(threads.map(handler.process, [(code, lang) for _, code, lang in programs]))
        finally:
            handler.pool.close()
        return {key: result for (key, _, _), result in zip(programs, results)}
    options = resolve_options(ray_options)
    zygotes = max(1, math.ceil(options.cpus_per_render_worker))
    stage = Stage("render", functools.partial(RenderHandler, zygotes, timeout, dpi), name="render",
                  in_flight=zygotes)
    with ray_session(options) as ray:
        return dict(stream(ray, stage, [(key, (code, lang)) for key, code, lang in programs], options))
