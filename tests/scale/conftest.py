"""Fixtures for scale-out tests: a local single-node Ray (started once per test module: ~3-5 s,
~0.8 GB) and a corpus of a few hundred sentences for the tiny fixture model.

Ray is set up as docs/scale.md advises: ``HOME`` in a temporary folder (``ray.init`` writes
``~/.ray``), workers at normal priority (``RAY_worker_niceness=0``; Ray's default +15 starves
them on a busy machine), two CPUs, no dashboard; workers import this checkout's ``simmatch``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ZH = "我你他她们的是不了在有人这个上来到时大地为子中说生国年着就那和要出也得里后以会家可下而过天去能对小多然"
EN = ["hello", "world", "how", "are", "you", "milk", "seafood", "drink", "lemon", "water", "cat", "dog"]


def sentences(n: int) -> list[str]:
    """``n`` distinct sentences of varied length, Chinese and English, in the tiny vocabulary."""
    out = []
    for i in range(n):
        if i % 3 == 2:
            words = [EN[(i * 7 + j * 5) % len(EN)] for j in range(2 + i % 9)]
            out.append(" ".join(words) + f" {chr(ord('a') + i % 26)}")
        else:
            out.append("".join(ZH[(i * 11 + j * 3) % len(ZH)] for j in range(3 + i % 17)))
    return out


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    ray = pytest.importorskip("ray")
    import simmatch

    home = tmp_path_factory.mktemp("ray-home")
    source_root = str(Path(simmatch.__file__).resolve().parents[1])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("RAY_worker_niceness", "0")
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])))
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(home / "ray"))
        try:
            yield ray
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(sentences(300)):
            fh.write(json.dumps({"id": f"d{i}", "text": text, "metadata": {"n": i % 4}}, ensure_ascii=False))
            fh.write("\n")
    return path
