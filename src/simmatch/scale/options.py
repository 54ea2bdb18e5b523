"""The settings of a Ray embedding job, declared once (the CLI's ``--ray`` options map onto them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from simmatch.errors import InputError
from simmatch.models.backends import check_backend

DEFAULT_RAY_BACKEND = "onnx-int8"


@dataclass(frozen=True)
class RayOptions:
    """How an embedding job runs on Ray.

    address: the cluster: ``None`` or ``"auto"`` = the one ``RAY_ADDRESS`` names, else a new
        local one; ``"ray://host:10001"`` or ``"host:6379"`` an existing one. Ignored when Ray is
        already initialized in this process.
    actors: size of the pool of ``Embedder`` actors (one model each).
    threads: CPU threads (and Ray CPUs) per actor.
    backend: the actors' ``Embedder`` backend (``onnx-int8`` by default: the fastest on CPU).
    batch_size: texts per model call inside an actor (``Embedder.encode``'s ``batch_size``).
    ray_batch_rows: rows per ``map_batches`` batch. The actor sorts its batch by token length and
        calls the model ``batch_size`` texts at a time, so a Ray batch much larger than a model
        call pads little; Ray batches of ``batch_size`` rows in file order were padded to the
        longest of 256 random texts (an idle 1-actor job ran ~4.7x slower per core than
        in-process, where the whole corpus is sorted at once).
    shard_rows: rows per Parquet shard; a job resumes after its last complete shard.
    """

    address: str | None = None
    actors: int = 1
    threads: int = 1
    backend: str = DEFAULT_RAY_BACKEND
    batch_size: int = 256
    ray_batch_rows: int = 4096
    shard_rows: int = 100_000
    init_kwargs: dict = field(default_factory=dict)  # extra ``ray.init`` arguments (tests: num_cpus)

    def __post_init__(self) -> None:
        for name in ("actors", "threads", "batch_size", "ray_batch_rows", "shard_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"RayOptions.{name} must be a positive integer, got {value!r}")
        check_backend(self.backend)
        if self.address is not None and not (isinstance(self.address, str) and self.address.strip()):
            raise InputError(f"RayOptions.address must be a non-empty string or None, got {self.address!r}")
