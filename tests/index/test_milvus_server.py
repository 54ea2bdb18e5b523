"""``Index`` on a Milvus server through its ``http://`` URI: the same code path as a Milvus server
or cluster, served here by ``milvus-lite server`` on a free loopback port (started once per module,
stopped in the fixture's finalizer). Dense, BM25 and hybrid hits equal those of the same corpus in a
Milvus Lite file store (dense also equals exact search); ``Index.open(uri)`` reopens it; the CLI's
``simmatch index`` commands take the URI; the token reaches ``MilvusClient``; an unreachable server
is one clear error naming the URI, and nothing local is created for a URI.

Against a real server: set ``MILVUS_URI`` (and ``MILVUS_TOKEN`` if it needs one); the opt-in test
runs the same checks in a fresh collection and drops it afterwards. A real server computes BM25
over the whole collection (Lite per segment), so there BM25 and hybrid are checked on their top hit.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from simmatch.cli.main import main
from simmatch.errors import InputError, SimmatchError
from simmatch.index import Index
from simmatch.index.milvus import SETTINGS_SUFFIX, MilvusIndex
from simmatch.index.vectors import exact_search
from tests.index.conftest import CORPUS, FakeEncoder

pymilvus = pytest.importorskip("pymilvus")

QUERIES = ["北京天气怎么样", "iPhone price", "红烧肉", "passport Beijing"]
MODES = ("dense", "bm25", "hybrid")
START_TIMEOUT_S = 60.0
Results = dict[str, list[list]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_answers(uri: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"milvus-lite server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            client = pymilvus.MilvusClient(uri)
        except pymilvus.MilvusException:
            if time.monotonic() > deadline:
                pytest.fail(f"milvus-lite server at {uri} did not answer in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
            continue
        client.list_collections()
        client.close()
        return


@pytest.fixture(scope="module")
def lite_server(tmp_path_factory) -> Iterator[str]:
    """``milvus-lite server`` on a free loopback port, data in a temporary directory; its URI."""
    if importlib.util.find_spec("milvus_lite") is None:
        pytest.skip("milvus-lite is not installed (pip install 'simmatch[milvus]'): it serves http:// here")
    root = tmp_path_factory.mktemp("milvus-server")
    uri = f"http://127.0.0.1:{(port := _free_port())}"
    log = root / "server.log"
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(root / "data")]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)], cwd=root, stdout=out, stderr=out
        )
    try:
        _wait_until_answers(uri, proc, log)
        yield uri
    finally:
        # SIGINT lets the server close its database (KeyboardInterrupt); a shell that started
        # pytest in the background passes SIGINT on as ignored, so escalate.
        for stop in (lambda: proc.send_signal(signal.SIGINT), proc.terminate, proc.kill):
            stop()
            try:
                proc.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue


def _search_all(index: MilvusIndex) -> Results:
    results: Results = {mode: index.search_batch(QUERIES, top_k=5, mode=mode) for mode in MODES}
    results["filtered"] = index.search_batch(QUERIES, top_k=5, mode="dense", filter={"lang": "zh"})
    return results


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Results:
    """The same corpus and searches in a Milvus Lite file store."""
    pytest.importorskip("milvus_lite")
    db = tmp_path_factory.mktemp("milvus-file") / "reference.db"
    with Index.create(f"{db}#docs", FakeEncoder(), filter_fields=["lang"]) as index:
        index.add(CORPUS, show_progress=False)
        return _search_all(index)


def _assert_same_hits(got: list[list], want: list[list]) -> None:
    """Equal scores rank by rank and the same ids, except for the order of tied scores (and which
    of several documents tied with the last hit made the cut)."""
    docs = {d["id"]: d for d in CORPUS}
    assert len(got) == len(want)
    for hits, expected in zip(got, want):
        assert len(hits) == len(expected)
        np.testing.assert_allclose([h.score for h in hits], [h.score for h in expected], atol=1e-5)
        cut = expected[-1].score + 1e-5
        assert {h.id for h in hits if h.score > cut} == {h.id for h in expected if h.score > cut}
        for hit in hits:
            assert (hit.text, hit.metadata) == (docs[hit.id]["text"], docs[hit.id]["metadata"])


def _assert_dense_is_exact(got: list[list]) -> None:
    encoder = FakeEncoder()
    stored = encoder.encode([d["text"] for d in CORPUS], normalize=True)
    queries = encoder.encode(QUERIES, normalize=True, kind="query")
    scores, _ = exact_search(queries, stored, 5, "ip")
    every = queries @ stored.T
    position = {d["id"]: i for i, d in enumerate(CORPUS)}
    for q, (hits, row) in enumerate(zip(got, scores)):
        np.testing.assert_allclose([h.score for h in hits], row, atol=1e-5)
        np.testing.assert_allclose([every[q, position[h.id]] for h in hits], row, atol=1e-5)


def _drop(uri: str, token: str | None, name: str) -> None:
    client = pymilvus.MilvusClient(uri, **({"token": token} if token else {}))
    try:
        for collection in (name, name + SETTINGS_SUFFIX):
            if client.has_collection(collection):
                client.drop_collection(collection)
    finally:
        client.close()


def _check_server(uri: str, token: str | None, reference: Results, same_engine: bool) -> None:
    """Create, add, search (dense, BM25, hybrid, filtered) and reopen an index at ``uri`` in a
    fresh collection; its hits equal ``reference``'s (a real server: dense and the top BM25 and
    hybrid hit). The collection is dropped afterwards."""
    name = f"simmatch_test_{uuid.uuid4().hex[:12]}"
    location = f"{uri}#{name}"
    encoder = FakeEncoder()
    try:
        with Index.create(location, encoder, filter_fields=["lang"], token=token) as index:
            assert isinstance(index, MilvusIndex)
            assert index.path == location and index.info()["uri"] == uri
            stats = index.add(CORPUS, show_progress=False)
            assert (stats.added, stats.encoded, len(index)) == (len(CORPUS), len(CORPUS), len(CORPUS))
            first = _search_all(index)
        with Index.open(location, encoder, token=token, read_only=True) as index:
            assert index.ids() == sorted(d["id"] for d in CORPUS)
            reopened = _search_all(index)
    finally:
        _drop(uri, token, name)
    for results in (first, reopened):
        _assert_dense_is_exact(results["dense"])
        _assert_same_hits(results["dense"], reference["dense"])
        _assert_same_hits(results["filtered"], reference["filtered"])
        assert all(h.metadata["lang"] == "zh" for hits in results["filtered"] for h in hits)
        for mode in ("bm25", "hybrid"):
            if same_engine:
                _assert_same_hits(results[mode], reference[mode])
            else:
                assert [hits[0].id for hits in results[mode]] == [hits[0].id for hits in reference[mode]]
        assert all(h.score > 0 for hits in results["bm25"] for h in hits)


def test_server_uri_gives_the_hits_of_a_lite_file(lite_server, reference, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _check_server(lite_server, None, reference, same_engine=True)
    assert list(tmp_path.iterdir()) == []  # a URI is not a local path: nothing is created for it


@pytest.mark.skipif(
    not os.environ.get("MILVUS_URI"), reason="opt-in: set MILVUS_URI (and MILVUS_TOKEN) to test a server"
)
def test_real_server_from_milvus_uri(reference):
    _check_server(os.environ["MILVUS_URI"], os.environ.get("MILVUS_TOKEN"), reference, same_engine=False)


def test_token_reaches_milvus_client(lite_server, monkeypatch):
    seen: list[dict] = []
    real = pymilvus.MilvusClient

    def recording(uri, **kwargs):
        seen.append({"uri": uri, **kwargs})
        return real(uri, **kwargs)

    monkeypatch.setattr(pymilvus, "MilvusClient", recording)
    name = f"simmatch_test_{uuid.uuid4().hex[:12]}"
    try:
        Index.create(f"{lite_server}#{name}", FakeEncoder(), token="root:Milvus").close()
        monkeypatch.setenv("MILVUS_TOKEN", "from-env")
        Index.open(f"{lite_server}#{name}").close()
    finally:
        _drop(lite_server, None, name)
    given, from_env = {"uri": lite_server, "token": "root:Milvus"}, {"uri": lite_server, "token": "from-env"}
    assert seen[:2] == [given, from_env]
    with pytest.raises(InputError, match=r"^token= applies to a Milvus server URI"):
        Index.create("local-index", FakeEncoder(), token="t")


@pytest.mark.parametrize("call", ["create", "open"])
def test_unreachable_server_is_one_clear_error(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"http://127.0.0.1:{_free_port()}"
    args = (f"{uri}#docs", FakeEncoder()) if call == "create" else (f"{uri}#docs",)
    with pytest.raises(SimmatchError) as err:
        getattr(Index, call)(*args)
    assert str(err.value).startswith(f"cannot connect to Milvus server at {uri}: ")
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_cli_index_commands_take_the_uri(lite_server, tiny_embedder_dir, tmp_path, capsys):
    location = f"{lite_server}#simmatch_test_{uuid.uuid4().hex[:12]}"
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in CORPUS), encoding="utf-8")
    try:
        assert main(["index", "create", location, "--model", str(tiny_embedder_dir)]) == 0
        assert json.loads(capsys.readouterr().out)["uri"] == lite_server
        assert main(["index", "add", location, str(docs)]) == 0
        assert json.loads(capsys.readouterr().out)["documents"] == len(CORPUS)
        assert main(["index", "search", location, "北京", "--mode", "bm25", "-k", "2"]) == 0
        hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(hits) == 2 and all("北京" in hit["text"] for hit in hits)
        assert main(["index", "delete", location, "zh-1"]) == 0
        assert json.loads(capsys.readouterr().out)["documents"] == len(CORPUS) - 1
    finally:
        _drop(lite_server, None, location.split("#")[1])
    closed = f"http://127.0.0.1:{_free_port()}"
    assert main(["index", "info", f"{closed}#docs"]) == 2
    message = capsys.readouterr().err
    assert message.startswith(f"simmatch: error: cannot connect to Milvus server at {closed}: ")
    assert message.count("\n") == 1  # one line, no traceback
