"""The ``--ray`` options of ``simmatch embed`` and ``simmatch index add``, mapped onto
``simmatch.scale.RayOptions`` (defaults declared there)."""

from __future__ import annotations

import argparse

from simmatch.cli._common import positive_int
from simmatch.scale.options import RayOptions


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Ray (pip install 'simmatch[ray]'; see docs/scale.md)")
    group.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="encode on a Ray cluster: ADDRESS (e.g. ray://head:10001), or 'auto' / no value: the "
        "RAY_ADDRESS cluster, else a new local one; the embedder backend defaults to onnx-int8 there",
    )
    group.add_argument("--actors", type=positive_int, default=RayOptions.actors, help="embedder actors")
    group.add_argument(
        "--threads-per-actor", type=positive_int, default=RayOptions.threads, help="CPU threads per actor"
    )
    group.add_argument(
        "--shard-rows",
        type=positive_int,
        default=RayOptions.shard_rows,
        help="rows per Parquet shard (a rerun resumes after the last complete shard)",
    )


def ray_options(args: argparse.Namespace, backend: str | None, batch_size: int) -> RayOptions:
    """``RayOptions`` from the parsed flags (``backend=None``: its default, onnx-int8)."""
    return RayOptions(
        address=args.ray,
        actors=args.actors,
        threads=args.threads_per_actor,
        backend=backend or RayOptions.backend,
        batch_size=batch_size,
        shard_rows=args.shard_rows,
    )
