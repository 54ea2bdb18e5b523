"""What the serve benchmark's scenarios share: the LCQMC requests, the service as a subprocess on a
free loopback port, and the load generator (clients sending requests back to back)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import ROOT


# ---------------------------------------------------------------------------- data
def load_pairs(data_root: Path) -> list[tuple[str, str]]:
    from simmatch.data import load_pairs as load

    return [(ex.sentence1, ex.sentence2) for ex in load(data_root / "lcqmc" / "test.tsv")]


def make_requests(pairs: list[tuple[str, str]], endpoint: str, k: int) -> list[dict[str, Any]]:
    """Request bodies in file order: k texts (sentence1 then sentence2 of consecutive rows) or
    k pairs each."""
    if endpoint == "embeddings":
        texts = [t for pair in pairs for t in pair]
        return [
            {"input": texts[i : i + k], "encoding_format": "base64"} for i in range(0, len(texts) - k + 1, k)
        ]
    return [{"pairs": [list(p) for p in pairs[i : i + k]]} for i in range(0, len(pairs) - k + 1, k)]


PATHS = {"embeddings": "/v1/embeddings", "similarity": "/similarity"}


# ---------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    args: argparse.Namespace, port: int, api_key: str, extra: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """``python -m simmatch.service`` with ``--model``, ``--cross-encoder``, ``--server-args``
    and ``extra`` flags, on 127.0.0.1:``port``."""
    cmd = [sys.executable, "-m", "simmatch.service", "--model", args.model, "--port", str(port)]
    cmd += ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    if args.cross_encoder:
        cmd += ["--cross-encoder", args.cross_encoder]
    cmd += shlex.split(getattr(args, "server_args", None) or "") + list(extra or [])
    env = {**os.environ, "SIMMATCH_API_KEY": api_key}
    if args.torch_threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.torch_threads)
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 900.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the service was not ready after {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def rss_mib(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


async def load(
    base: str,
    headers: dict[str, str],
    path: str,
    bodies: list[bytes],
    clients: int,
    seconds: float,
    offset: int = 0,
):
    """``clients`` workers send ``bodies`` in order (cycling, from ``offset``) back to back for
    ``seconds``; the time includes draining the requests still in flight at the end."""
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    next_index = offset
    stop_at = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while time.perf_counter() < stop_at:
            body = bodies[next_index % len(bodies)]
            next_index += 1
            t0 = time.perf_counter()
            try:
                r = await client.post(path, content=body, headers=headers)
                ok = r.status_code == 200
                key = str(r.status_code)
            except httpx.HTTPError as exc:
                ok, key = False, type(exc).__name__
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors[key] = errors.get(key, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    return latencies, errors, elapsed, next_index - offset


def batch_stats(base: str) -> dict[str, Any]:
    import httpx

    return httpx.get(f"{base}/health", timeout=10).json()["batching"]


def worker_busy_seconds(base: str) -> float:
    """Seconds the service's model worker has spent in model calls since start-up."""
    import httpx

    return float(httpx.get(f"{base}/health", timeout=10).json()["worker_busy_s"])
