"""``simmatch models``: list the built-in models and where they are cached."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list built-in models and their cache location")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.add_argument("--prepare", action="store_true", help="convert/locate every built-in model now")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simmatch.models.registry import BUILTIN_MODELS, list_builtin_models, resolve_model

    if args.prepare:
        from simmatch.models.builtin_ce import is_packaged

        for name, model in BUILTIN_MODELS.items():
            if model.family == "cross-encoder" and not is_packaged(name):
                print(f"simmatch: {name} is not packaged in this install; skipped", file=sys.stderr)
                continue
            resolve_model(name)
    rows = list_builtin_models()
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    print(f"{'name':<24} {'kind':<26} {'ready':<5}  {'languages':<18} path")
    for r in rows:
        ready = "yes" if r["ready"] else "no"
        labels = r["labels"] if isinstance(r["labels"], list) else []
        kind = f"embedder, dim {r['dim']}" if r["family"] == "embedder" else "labels " + "/".join(labels)
        print(f"{r['name']:<24} {kind:<26} {ready:<5}  {r['languages']:<18} {r['path']}")
    return 0
