""":func:`evaluate_dataset`: a model and data named as every door names them (``NAME:SPLIT`` or a
path) in, one JSON-ready record out. ``simmatch eval`` is this call plus printing;
``simmatch tune-decision`` is :func:`tune_decision` plus printing."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simmatch.errors import InputError

FAMILIES = ("embedder", "cross-encoder")


def evaluate_dataset(
    model: str | Path | Any,
    data: str | Path,
    *,
    family: str = "embedder",
    threshold_from: str | Path | None = None,
    limit: int | None = None,
    score_range: tuple[float, float] | None = None,
    label_map: Mapping[str, str | None] | None = None,
    backend: str = "torch",
    kind: str = "query",
    batch_size: int = 64,
    device: str | None = None,
    plot: str | Path | None = None,
    root: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate an embedder (``EmbeddingSimilarityEvaluator``) or a cross-encoder
    (``PairClassificationEvaluator``) on labeled pairs and return the record ``simmatch eval`` prints:
    ``{"data": <data as given>, ["threshold_from": ...,] "pairs": N, "primary_metric": ..., <metrics>,
    ["plot": <png>]}``.

    ``model`` is a name or directory (loaded as ``Embedder(model, backend=, device=)`` or
    ``PairClassifier(model, device=, backend=)``) or an already loaded model. ``data`` and ``threshold_from``
    are read by :func:`simmatch.data.resolve_dataset`, both with the same ``limit``,
    ``score_range`` and ``label_map``; the data must have a label column. ``threshold_from``
    (embedder, binary labels) must be other data than ``data``: the same ``NAME:SPLIT``, file or
    pairs is refused, since a threshold chosen on the evaluated split overstates accuracy.
    ``plot`` also writes the score histogram PNG (the ``plot`` extra). Everything that can be
    checked is checked before the model is loaded.
    """
    from simmatch.data import resolve_dataset, same_data
    from simmatch.errors import require
    from simmatch.evaluation.evaluators import EmbeddingSimilarityEvaluator, PairClassificationEvaluator
    from simmatch.models.backends import BACKENDS

    if family not in FAMILIES:
        raise InputError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    loaded = not isinstance(model, (str, Path))
    if loaded and (backend != "torch" or device is not None):
        raise InputError("backend and device apply when model is a name or a directory, not a loaded model")
    if threshold_from is not None:
        if family != "embedder":
            raise InputError("threshold_from applies to embedders (a binary cross-encoder predicts at 0.5)")
        if same_data(data, threshold_from, root=root):
            raise InputError(
                f"threshold_from {str(threshold_from)!r} is the evaluated data {str(data)!r}: choosing "
                "the threshold on the evaluated split overstates accuracy; pass a dev split"
            )
    if plot is not None:
        require("matplotlib", "plot")

    options: dict[str, Any] = {
        "limit": limit,
        "score_range": score_range,
        "label_map": label_map,
        "require_label": True,
        "root": root,
    }
    dataset = resolve_dataset(data, **options)
    dev = resolve_dataset(threshold_from, **options) if threshold_from is not None else None
    evaluator: Any
    if family == "embedder":
        evaluator = EmbeddingSimilarityEvaluator(
            dataset, kind=kind, threshold_from=dev, batch_size=batch_size
        )
    else:
        evaluator = PairClassificationEvaluator(dataset, batch_size=batch_size)

    title = f"{model if not loaded else getattr(model, 'model_name', type(model).__name__)} on {data}"
    if not loaded:
        if family == "embedder":
            from simmatch.models import Embedder

            model = Embedder(str(model), backend=backend, device=device)
        else:
            from simmatch.models import PairClassifier

            model = PairClassifier(str(model), device=device, backend=backend)
    metrics = evaluator(model)

    record: dict[str, Any] = {"data": str(data)}
    if threshold_from is not None:
        record["threshold_from"] = str(threshold_from)
    record.update(pairs=len(dataset), primary_metric=evaluator.primary_metric, **metrics)
    if plot is not None:
        record["plot"] = str(evaluator.plot(plot, title=title))
    return record


def tune_decision(
    model: str | Path,
    dev: str | Path,
    *,
    metric: str = "macro_f1",
    limit: int | None = None,
    label_map: Mapping[str, str | None] | None = None,
    backend: str = "torch",
    batch_size: int = 64,
    device: str | None = None,
    save: bool = True,
    root: str | Path | None = None,
) -> dict[str, Any]:
    """Fit a cross-encoder's (or an ensemble's) per-label logit offsets on labeled ``dev`` pairs
    (``PairClassifier.tune_decision``) and, with ``save``, write them to the model directory's
    ``simmatch.json`` so every later load decides with them. Returns the record
    ``simmatch tune-decision`` prints: ``{"model", "dev", "pairs", "metric", "logit_offsets",
    "before", "after", "saved_to"}``. A built-in model is refused when saving: its assembly is
    the project's (copy the directory and tune the copy)."""
    from simmatch.data import resolve_dataset
    from simmatch.evaluation.metrics import DECISION_METRICS
    from simmatch.models import PairClassifier
    from simmatch.models.registry import builtin_name

    if metric not in DECISION_METRICS:
        raise InputError(f"metric must be one of {', '.join(DECISION_METRICS)}, not {metric!r}")
    if save and builtin_name(str(model)) is not None:
        raise InputError(
            f"{model} is a built-in model; copy its directory (simmatch models lists it) and tune the copy"
        )
    data = resolve_dataset(dev, limit=limit, label_map=label_map, require_label=True, root=root)
    if data.label_type != "class":
        raise InputError(f"{dev}: tuning a decision needs class labels, not {data.label_type} labels")
    classifier = PairClassifier(str(model), device=device, backend=backend)
    tuning = classifier.tune_decision(
        data.pairs, [str(e.label) for e in data], metric=metric, batch_size=batch_size
    )
    saved = str(classifier.save_settings()) if save else None
    return {"model": str(model), "dev": str(dev), "pairs": len(data), **tuning, "saved_to": saved}
