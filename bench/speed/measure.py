"""What both speed benchmarks (run.py: embedder; cross_encoder.py: cross-encoder) measure the same
way: useful transformer FLOPs and a worker's peak RSS."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

import numpy as np


def transformer_flops(token_counts: list[int], config: dict[str, Any]) -> float:
    """``L · (2n(4d² + 2df) + 4n²d)`` summed over texts of n tokens (see run.py's docstring)."""
    d = int(config["hidden_size"])
    f = int(config["intermediate_size"])
    layers = int(config["num_hidden_layers"])
    n = np.asarray(token_counts, dtype=np.float64)
    return float(layers * (2 * n * (4 * d * d + 2 * d * f) + 4 * n * n * d).sum())


def peak_rss_mb() -> float:
    """This process's peak resident set. ``VmHWM`` belongs to the address space, which ``exec``
    replaces; ``getrusage``'s ``ru_maxrss`` would carry over the parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
