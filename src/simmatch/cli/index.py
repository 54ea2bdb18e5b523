"""``simmatch index create|add|delete|search|info``: a thin door onto ``simmatch.index.ops``.

Choices and defaults come from the library (``simmatch.index.options``), so each is declared once.
"""

from __future__ import annotations

import argparse
import json

from simmatch.cli._common import positive_int
from simmatch.cli._io import write_jsonl
from simmatch.cli._ray import add_ray_options, ray_options
from simmatch.models.backends import BACKENDS
from simmatch.models.registry import DEFAULT_EMBEDDER

CREATE_OPTIONS = ("metric", "ann", "ann_threshold", "tokenizer")  # IndexConfig fields with a flag


def add_parser(sub: argparse._SubParsersAction) -> None:
    # Choices and defaults come from the library so each setting is declared once.
    from simmatch import index as lib
    from simmatch.data import DOCUMENT_FORMATS
    from simmatch.index.tokenize import TOKENIZERS
    from simmatch.index.vectors import ANN_CHOICES, METRICS

    p = sub.add_parser("index", help="persistent search index: create, add, delete, search, info")
    isub = p.add_subparsers(dest="index_command", metavar="ACTION", required=True)

    c = isub.add_parser("create", help="create an empty index for an embedding model")
    c.add_argument(
        "path",
        help="index directory (created), or a Milvus location: file.db[#name], http://host:19530[#name]",
    )
    c.add_argument(
        "--model", "-m", default=DEFAULT_EMBEDDER, help=f"embedding model (default {DEFAULT_EMBEDDER})"
    )
    c.add_argument("--metric", choices=METRICS, default=lib.INDEX_DEFAULTS.metric)
    c.add_argument(
        "--ann",
        choices=ANN_CHOICES,
        default=lib.INDEX_DEFAULTS.ann,
        help="vector index: exact (flat) below --ann-threshold, HNSW above (auto)",
    )
    c.add_argument("--ann-threshold", type=positive_int, default=lib.INDEX_DEFAULTS.ann_threshold)
    c.add_argument(
        "--tokenizer", choices=TOKENIZERS, default=lib.INDEX_DEFAULTS.tokenizer, help="BM25 tokenizer"
    )
    c.add_argument(
        "--filter-fields",
        metavar="KEY[,KEY...]",
        default="",
        help="Milvus only: metadata keys stored as their own fields (fast filters)",
    )
    c.set_defaults(func=_create)

    a = isub.add_parser(
        "add", help="add or update documents from JSONL {id, text, metadata} or TSV id<TAB>text"
    )
    a.add_argument("path")
    a.add_argument("file", help="document file (.jsonl or .tsv)")
    a.add_argument("--format", choices=DOCUMENT_FORMATS, default="auto")
    a.add_argument("--batch-size", type=positive_int, default=256)
    a.add_argument("--backend", choices=BACKENDS, default=None, help="with --ray: the actors' backend")
    a.add_argument("--shards", metavar="DIR", help="with --ray: keep the job's shards here (to resume)")
    add_ray_options(a)
    a.set_defaults(func=_add)

    d = isub.add_parser("delete", help="delete documents by id")
    d.add_argument("path")
    d.add_argument("ids", nargs="+")
    d.set_defaults(func=_delete)

    s = isub.add_parser("search", help="search: dense, bm25 or hybrid, optionally reranked")
    s.add_argument("path")
    s.add_argument("query")
    s.add_argument("--top-k", "-k", type=positive_int, default=lib.DEFAULT_TOP_K)
    s.add_argument(
        "--mode", choices=lib.MODES, default=lib.DEFAULT_MODE, help=f"(default {lib.DEFAULT_MODE})"
    )
    s.add_argument(
        "--rerank", metavar="MODEL", help="cross-encoder (PairClassifier) directory to rerank with"
    )
    s.add_argument("--backend", choices=BACKENDS, default="torch", help="backend of the --rerank model")
    s.add_argument("--rerank-top-k", type=positive_int, default=lib.DEFAULT_RERANK_TOP_K)
    s.add_argument(
        "--rerank-fusion",
        choices=lib.RERANK_FUSIONS,
        default=lib.DEFAULT_RERANK_FUSION,
        help="order the reranked head by RRF of first-stage and reranker ranks, or by the reranker's "
        f"score alone (replace) (default {lib.DEFAULT_RERANK_FUSION}; docs/retrieval.md)",
    )
    s.add_argument(
        "--filter", type=_json_object, help='metadata equality filter as JSON, e.g. \'{"lang": "zh"}\''
    )
    s.set_defaults(func=_search)

    i = isub.add_parser("info", help="settings and counts of an index")
    i.add_argument("path")
    i.set_defaults(func=_info)


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--filter is not valid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--filter must be a JSON object")
    return value


def _print(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _existing_index(path: str) -> str:
    """The library's "no index here" error names the Python call (``Index.create``); the CLI
    names the command. A Milvus location (``file.db``, ``http://…``) is checked by ``Index.open``."""
    from pathlib import Path

    from simmatch.errors import InputError
    from simmatch.index.location import is_milvus
    from simmatch.index.store import SQLITE_FILE

    if is_milvus(path):
        return path
    if not (Path(path) / SQLITE_FILE).is_file():
        raise InputError(
            f"no index at {path} (missing {SQLITE_FILE}); create one with `simmatch index create {path}`"
        )
    return path


def _create(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simmatch.errors import InputError
    from simmatch.index import ops
    from simmatch.index.location import is_milvus
    from simmatch.index.options import IndexConfig
    from simmatch.index.store import SQLITE_FILE

    path = Path(args.path)
    if not is_milvus(args.path) and path.exists() and (not path.is_dir() or any(path.iterdir())):
        hint = (
            f"add documents with `simmatch index add {args.path} FILE`"
            if (path / SQLITE_FILE).is_file()
            else "pick a new or empty directory"
        )
        raise InputError(f"{args.path} already exists and is not an empty directory; {hint}")
    config = IndexConfig(**{name: getattr(args, name) for name in CREATE_OPTIONS})
    fields = [key.strip() for key in args.filter_fields.split(",") if key.strip()]
    _print(ops.create(args.path, args.model, config, filter_fields=fields))
    return 0


def _add(args: argparse.Namespace) -> int:
    from simmatch.index import ops

    if args.ray:
        from simmatch.scale.indexing import add_file

        options = ray_options(args, args.backend, args.batch_size)
        _print(
            add_file(
                _existing_index(args.path), args.file, options=options, shards=args.shards, format=args.format
            )
        )
        return 0
    _print(
        ops.add_file(_existing_index(args.path), args.file, format=args.format, batch_size=args.batch_size)
    )
    return 0


def _delete(args: argparse.Namespace) -> int:
    from simmatch.index import ops

    _print(ops.delete(_existing_index(args.path), args.ids))
    return 0


def _search(args: argparse.Namespace) -> int:
    from simmatch.index import ops
    from simmatch.models import PairClassifier

    hits = ops.search(
        _existing_index(args.path),
        args.query,
        top_k=args.top_k,
        mode=args.mode,
        rerank=PairClassifier(args.rerank, backend=args.backend) if args.rerank else None,
        rerank_top_k=args.rerank_top_k,
        rerank_fusion=args.rerank_fusion,
        filter=args.filter,
    )
    write_jsonl(hits)  # type: ignore[arg-type]
    return 0


def _info(args: argparse.Namespace) -> int:
    from simmatch.index import ops

    _print(ops.info(_existing_index(args.path)))
    return 0
