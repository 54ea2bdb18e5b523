"""The serve benchmark's robustness scenarios (issue 16): ``stall`` (one heavy client beside light
ones) and ``shutdown`` (SIGTERM with a backlog). ``run.py --scenario NAME`` runs them; see its
docstring for what each measures."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from client import free_port, load, load_pairs, make_requests, start_server, wait_ready

from _common import load_average, machine

STALL_TARGET_P99_MS = 2000.0
EMBEDDINGS = "/v1/embeddings"


def run(args: argparse.Namespace, argv: list[str]) -> int:
    pairs = load_pairs(args.data_root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api_key = secrets.token_urlsafe(16)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    load_start = load_average()
    extra = ["--shutdown-grace-s", str(args.grace)] if args.scenario == "shutdown" else []
    print(f"starting the service on {base} with {args.model} ...", flush=True)
    proc = start_server(args, port, api_key, extra)
    try:
        wait_ready(base, proc)
        if args.scenario == "stall":
            result = stall(args, base, headers, pairs)
        else:
            result = shutdown(args, base, headers, pairs, proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    report = {
        "command": "python bench/serve/run.py " + " ".join(argv),
        "scenario": args.scenario,
        "model": args.model,
        "server_args": args.server_args,
        "clients": args.clients,
        "data": "lcqmc/test.tsv (file order)",
        "machine": {**machine(), "loadavg_start": load_start, "loadavg_end": load_average()},
        **result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (print_stall if args.scenario == "stall" else print_shutdown)(report)
    print(f"wrote {args.out}")
    return 0


def _ms(latencies: list[float], q: float) -> float | None:
    return round(float(np.percentile(np.array(latencies) * 1000, q)), 1) if latencies else None


# ---------------------------------------------------------------------------- stall
def heavy_request(args: argparse.Namespace, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Texts of ``--heavy-chars`` characters (consecutive LCQMC sentences joined), as many as fit
    in ``--heavy-tokens`` (default: the service's max_tokens_per_request), counted with the
    model's tokenizer the way the service counts them."""
    from simmatch.models import Embedder
    from simmatch.service.settings import LimitSettings

    limits = LimitSettings()
    budget = args.heavy_tokens or limits.max_tokens_per_request
    embedder = Embedder(args.model, device="cpu")
    texts: list[str] = []
    tokens = 0
    sentences = iter(s for pair in pairs for s in pair)
    while len(texts) < limits.max_items_per_request:
        text = ""
        while len(text) < args.heavy_chars:
            text += next(sentences)
        text = text[: args.heavy_chars]
        n = embedder.count_tokens([text])[0]
        if tokens + n > budget:
            break
        texts.append(text)
        tokens += n
    return {"input": texts, "encoding_format": "base64", "_tokens": tokens}


async def _heavy_client(
    base: str, headers: dict[str, str], body: bytes, seconds: float
) -> tuple[list[float], dict[str, int]]:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop_at = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            r = await client.post(EMBEDDINGS, content=body, headers=headers)
            if r.status_code == 200:
                latencies.append(time.perf_counter() - t0)
            else:
                errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
    return latencies, errors


def _phase(latencies: list[float], errors: dict[str, int], elapsed: float) -> dict[str, Any]:
    return {
        "requests_ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "rps": round(len(latencies) / elapsed, 2),
        "p50_ms": _ms(latencies, 50),
        "p99_ms": _ms(latencies, 99),
        "max_ms": _ms(latencies, 100),
    }


def stall(
    args: argparse.Namespace, base: str, headers: dict[str, str], pairs: list[tuple[str, str]]
) -> dict[str, Any]:
    import httpx

    light = [
        json.dumps(r, ensure_ascii=False).encode()
        for r in make_requests(pairs, "embeddings", args.per_request)
    ]
    heavy = heavy_request(args, pairs)
    heavy_tokens = heavy.pop("_tokens")
    heavy_body = json.dumps(heavy, ensure_ascii=False).encode()
    print(f"warm-up {args.warmup:.0f} s ...", flush=True)
    asyncio.run(load(base, headers, EMBEDDINGS, light, args.clients, args.warmup))
    print(f"light clients alone, {args.duration:.0f} s ...", flush=True)
    lat, err, elapsed, sent = asyncio.run(load(base, headers, EMBEDDINGS, light, args.clients, args.duration))
    alone = _phase(lat, err, elapsed)
    print(f"light clients beside the heavy client, {args.duration:.0f} s ...", flush=True)

    async def both() -> Any:
        return await asyncio.gather(
            load(base, headers, EMBEDDINGS, light, args.clients, args.duration, offset=sent),
            _heavy_client(base, headers, heavy_body, args.duration),
        )

    (lat, err, elapsed, _), (heavy_lat, heavy_err) = asyncio.run(both())
    beside = _phase(lat, err, elapsed)
    # The request: as many long texts as the item, character and body limits admit
    # (240 texts of 2,700 Chinese characters, 1.9 MB as UTF-8), far over the token budget.
    text = "".join(s for pair in pairs[:2000] for s in pair)[:2700]
    oversized = json.dumps({"input": [text] * 240}, ensure_ascii=False).encode()
    t0 = time.perf_counter()
    r = httpx.post(f"{base}{EMBEDDINGS}", content=oversized, headers=headers, timeout=600)
    refused_s = time.perf_counter() - t0
    return {
        "per_request": args.per_request,
        "duration_s": args.duration,
        "heavy_request": {
            "texts": len(heavy["input"]),
            "chars_per_text": args.heavy_chars,
            "tokens": heavy_tokens,
        },
        "light_alone": alone,
        "light_beside_heavy": beside,
        "heavy": {
            "requests_ok": len(heavy_lat),
            "errors": heavy_err,
            "p50_s": round(float(np.median(heavy_lat)), 2) if heavy_lat else None,
            "max_s": round(max(heavy_lat), 2) if heavy_lat else None,
        },
        "oversized_request": {
            "texts": 240,
            "chars_per_text": len(text),
            "body_bytes": len(oversized),
            "status": r.status_code,
            "message": r.json().get("error", {}).get("message") if r.status_code != 200 else None,
            "seconds": round(refused_s, 2),
        },
        "target_p99_ms": STALL_TARGET_P99_MS,
        "target_met": beside["p99_ms"] is not None and beside["p99_ms"] < STALL_TARGET_P99_MS,
    }


def print_stall(report: dict[str, Any]) -> None:
    h = report["heavy_request"]
    print()
    print(
        f"stall: {report['model']}, {report['clients']} light clients x {report['per_request']} texts, "
        f"{report['duration_s']:.0f} s per phase; heavy request: {h['texts']} texts x "
        f"{h['chars_per_text']} chars = {h['tokens']} tokens"
    )
    print(f"{'phase':<20} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}")
    for name in ("light_alone", "light_beside_heavy"):
        r = report[name]
        print(
            f"{name:<20} {r['rps']:>7.1f} {r['p50_ms'] or 0:>8.1f} {r['p99_ms'] or 0:>8.1f} "
            f"{r['max_ms'] or 0:>8.1f} {r['errors']:>6d}"
        )
    hv = report["heavy"]
    print(
        f"heavy client: {hv['requests_ok']} requests, p50 {hv['p50_s']} s, max {hv['max_s']} s, "
        f"errors {hv['errors']}"
    )
    o = report["oversized_request"]
    print(
        f"issue's request ({o['texts']} x {o['chars_per_text']} chars, {o['body_bytes']} bytes): "
        f"{o['status']} in {o['seconds']} s"
    )
    verdict = "met" if report["target_met"] else "NOT met"
    print(f"light p99 beside the heavy client < {report['target_p99_ms']:.0f} ms: {verdict}")
    m = report["machine"]
    print(
        f"load average: {m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end "
        f"({m['cpus_online']} CPUs)"
    )


# ---------------------------------------------------------------------------- shutdown
def shutdown(
    args: argparse.Namespace,
    base: str,
    headers: dict[str, str],
    pairs: list[tuple[str, str]],
    proc: subprocess.Popen[bytes],
) -> dict[str, Any]:
    import httpx

    texts = [s for pair in pairs for s in pair]
    k = args.backlog_texts
    bodies = [{"input": texts[i * k : (i + 1) * k], "encoding_format": "base64"} for i in range(args.clients)]
    # One small request first, so the service has measured its cost per token.
    httpx.post(f"{base}{EMBEDDINGS}", json={"input": texts[:8]}, headers=headers, timeout=600)

    async def scenario() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=args.clients + 2)
        async with httpx.AsyncClient(base_url=base, timeout=600, limits=limits) as client:

            async def send(body: dict[str, Any]) -> httpx.Response | str:
                try:
                    return await client.post(EMBEDDINGS, json=body, headers=headers)
                except httpx.HTTPError as exc:
                    return type(exc).__name__

            tasks = [asyncio.ensure_future(send(b)) for b in bodies]
            drain = 0.0
            waited = time.perf_counter()
            while time.perf_counter() - waited < 60:
                health = (await client.get("/health")).json()
                drain = health["drain_estimate_s"]
                queued = sum(b["queued"] for b in health["batching"].values())
                if drain > args.grace and queued >= (args.clients - 1) * k:
                    break
                await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            while proc.poll() is None and time.perf_counter() - t0 < args.grace + 60:
                await asyncio.sleep(0.01)
            exit_s = time.perf_counter() - t0
            answers = await asyncio.gather(*tasks)
            return {"drain_estimate_s_at_signal": drain, "exit_s": round(exit_s, 2), "answers": answers}

    out = asyncio.run(scenario())
    ok = json_503 = 0
    other: list[str] = []
    for a in out.pop("answers"):
        if isinstance(a, str):
            other.append(a)
        elif a.status_code == 200:
            ok += 1
        elif (
            a.status_code == 503
            and a.headers.get("content-type") == "application/json"
            and a.headers.get("retry-after", "").isdigit()
            and a.json().get("error", {}).get("type") == "unavailable"
        ):
            json_503 += 1
        else:
            other.append(f"{a.status_code} {a.headers.get('content-type')} {a.text[:80]!r}")
    return {
        "grace_s": args.grace,
        "requests": len(bodies),
        "texts_per_request": k,
        **out,
        "returncode": proc.returncode,
        "ok_200": ok,
        "json_503_with_retry_after": json_503,
        "other": other,
        "target_met": not other and out["exit_s"] <= args.grace and proc.returncode is not None,
    }


def print_shutdown(report: dict[str, Any]) -> None:
    print()
    print(
        f"shutdown: {report['model']}, {report['requests']} requests x {report['texts_per_request']} texts "
        f"queued ({report['drain_estimate_s_at_signal']:.1f} s of work by the service's estimate), "
        f"SIGTERM with --shutdown-grace-s {report['grace_s']}"
    )
    print(
        f"answers: {report['ok_200']} x 200, {report['json_503_with_retry_after']} x JSON 503 with "
        f"Retry-After, {len(report['other'])} other {report['other'][:3]}"
    )
    print(f"process exited {report['exit_s']} s after SIGTERM (code {report['returncode']})")
    verdict = "met" if report["target_met"] else "NOT met"
    print(f"every request answered 200 or JSON 503, exit within {report['grace_s']} s: {verdict}")
