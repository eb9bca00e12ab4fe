"""Scoring on Ray (``evaluate_run(..., executor="ray")``): the items go to model-calling actors, the records
come back to this process, which writes ``scores/`` exactly as the local executor does.

Each actor rebuilds the judge and grader backends from their spec strings (with the cluster-wide rate limiter
when ``rpm`` is set, ``in_flight`` requests at once, and the shared cache folder if configured) and scores
``in_flight`` items at a time. Images are read by the workers from the run folder, so on a multi-node cluster
the run folder must be on storage every node mounts at the same path (only the driver writes to it).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Iterator


def ray_backend_specs(*backends: Any) -> None:
    """Backends given as objects cannot be rebuilt in the workers: say what to pass instead."""
    for backend in backends:
        if backend is not None and not isinstance(backend, str):
            raise ValueError("evaluate with executor='ray' rebuilds the judge and grader in each worker: pass them "
                             "as backend spec strings (e.g. 'openai:<model>@<url>'), not as backend objects")


class ScoreHandler:
    """In a Ray actor: the judge and grader backends, built once; ``process`` scores one (metric, item)."""

    def __init__(self, judge: str | None, grader: str | None, options: dict[str, Any], root: str,
                 dataset: str | None, settings: dict[str, str]):
        from scigenbench.metrics.evaluation import RunImages
        from scigenbench.metrics.specs import resolve_backend

        self.judge = resolve_backend(judge, **options) if judge is not None else None
        self.grader = resolve_backend(grader, **options) if grader is not None else None
        self.root, self.dataset, self.settings = Path(root), dataset, settings
        self._run_images = RunImages

    def process(self, item: tuple[str, dict[str, Any], str | None, str]) -> Any:
        from scigenbench.metrics.evaluation import score_item

        metric, problem, image, missing = item
        item_id = str(problem["id"])
        run = self._run_images(self.root, self.dataset, {item_id: Path(image)} if image else {},
                               {item_id: missing})
        return score_item(metric, problem, run, self.judge, self.grader, **self.settings)


def score_on_ray(metric: str, todo: list[tuple[dict[str, Any], str]], run: Any, *, judge: Any, grader: Any,
                 backend_options: dict[str, Any], settings: dict[str, str], session: Any
                 ) -> Iterator[tuple[str, Any]]:
    """Score ``todo`` (``(problem, key)`` pairs) for one metric on Ray; yields ``(key, ItemResult)``, each
    key once, as batches finish. ``session``: a :class:`~scigenbench.generators.executors.LazyRaySession`."""
    from scigenbench.generators import executors

    options = session.options
    ray_backend_specs(judge, grader)
    ray = session.get()
    limiter = None
    if backend_options.get("rpm"):
        limiter = executors.SharedRateLimiter.create(ray, float(backend_options["rpm"]))
    worker_options = executors.with_cluster_limits(backend_options, limiter, options, options.model_workers)
    factory = functools.partial(ScoreHandler, judge, grader, worker_options, str(run.root), run.dataset, settings)
    stage = executors.Stage("io", factory, name=f"evaluate-{metric}",
                            secrets=executors.secret_names(options, [worker_options]))
    items = [(key, (metric, problem, _path(run.image(str(problem["id"]))), run.missing_reason(str(problem["id"]))))
             for problem, key in todo]
    try:
        yield from executors.stream(ray, stage, items, options)
    finally:
        if limiter is not None:
            limiter.close()


def _path(path: Path | None) -> str | None:
    return str(path.resolve()) if path is not None else None
