"""The Ray path on a two-node cluster on this machine: a head and a second node, each with one
CPU, started with ``ray start`` inside a network namespace this test creates (``unshare -n`` then
``ip link set lo up``), so both nodes and the driver live on 127.0.0.1 (Ray 2.60 rewrites
127.0.0.1 to the interface address outside such a namespace). The namespace has its own PIDs
too (``unshare -p -f --mount-proc``): ``ray stop`` there sees only this cluster, and the kernel
ends every process of it when the script exits, so nothing leaks into other Ray users. Two
actors of one CPU each can only be placed one per node, so a job that finishes with the
in-process vectors went through both. Needs root (or user namespaces) and ``ip``; skipped with
the reason otherwise. ~15 s idle (~30 s on a loaded machine)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from simmatch.models import Embedder
from tests.scale.conftest import sentences

pytest.importorskip("ray")
pytest.importorskip("onnxruntime")

PORT = 6391
UNSHARE = ["unshare", "-n", "-p", "-f", "--mount-proc"]

DRIVER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import ray
    from simmatch.scale import RayOptions, embed_corpus, load_shards

    corpus, out, model, port = sys.argv[1:5]
    ray.init(address=f"127.0.0.1:{port}")
    nodes = [n for n in ray.nodes() if n["Alive"]]
    summary = embed_corpus(
        corpus, out, model, options=RayOptions(actors=2, threads=1, batch_size=32), show_progress=False
    )
    ids, embeddings = load_shards(out)
    np.save(f"{out}/vectors.npy", embeddings.vectors)
    print("RESULT " + json.dumps({
        "nodes": [(n["NodeManagerAddress"], n["Resources"].get("CPU")) for n in nodes],
        "rows": summary["rows"], "ids": ids,
    }))
    """
)


def _namespace_reason() -> str | None:
    if sys.platform != "linux" or not shutil.which("unshare") or not shutil.which("ip"):
        return "needs Linux with unshare and ip"
    probe = subprocess.run([*UNSHARE, "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace here ({probe.stderr.strip() or probe.returncode})"
    return None


def test_a_job_on_two_nodes_gives_the_in_process_vectors(tmp_path, corpus_file, tiny_embedder_dir):
    reason = _namespace_reason()
    if reason:
        pytest.skip(f"multi-node Ray test: {reason}")
    import simmatch

    ray_bin = Path(sys.executable).with_name("ray")
    out = tmp_path / "shards"
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must be < 108 bytes
    (tmp_path / "driver.py").write_text(DRIVER)
    common = "--node-ip-address=127.0.0.1 --num-cpus=1 --disable-usage-stats"
    script = f"""
        set -e
        ip link set lo up
        trap '"{ray_bin}" stop --force >/dev/null 2>&1 || true' EXIT
        "{ray_bin}" start --head --port={PORT} {common} --include-dashboard=false \
            --temp-dir="{temp_dir}" >/dev/null
        "{ray_bin}" start --address=127.0.0.1:{PORT} {common} >/dev/null
        "{sys.executable}" "{tmp_path}/driver.py" "{corpus_file}" "{out}" "{tiny_embedder_dir}" {PORT}
    """
    source_root = str(Path(simmatch.__file__).resolve().parents[1])
    env = {
        # Nothing of an earlier Ray in this process (the single-node fixture's session) may leak in.
        **{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
        "HOME": str(tmp_path / "home"),  # ray writes ~/.ray
        "RAY_worker_niceness": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])),
    }
    try:
        done = subprocess.run(
            [*UNSHARE, "bash", "-c", script], capture_output=True, text=True, env=env, timeout=120
        )
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert sorted(result["nodes"]) == [["127.0.0.1", 1.0], ["127.0.0.1", 1.0]]
    assert result["rows"] == 300 and result["ids"] == [f"d{i}" for i in range(300)]
    vectors = np.load(out / "vectors.npy")
    expected = Embedder(str(tiny_embedder_dir), backend="onnx-int8").encode(sentences(300), kind="passage")
    cosines = (vectors * expected).sum(axis=1) / (
        np.linalg.norm(vectors, axis=1) * np.linalg.norm(expected, axis=1)
    )
    assert cosines.min() >= 0.99  # int8 batching noise only
