"""The service as clients meet it: the official ``openai`` client, a real uvicorn server on a
loopback port, models loaded at start-up from paths, and the command-line settings."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from simmatch.cli.serve import add_arguments, settings_from_args
from simmatch.errors import InputError
from simmatch.service import LoadedModels, ServiceSettings, create_app

from .conftest import API_KEY, serving

openai = pytest.importorskip("openai")

TEXTS = ["吃完海鲜可以喝牛奶吗?", "hello world"]


def test_openai_client_round_trip(client, tiny_embedder):
    """``client`` is a TestClient, i.e. an ``httpx.Client`` whose transport is the app."""
    oa = openai.OpenAI(base_url="http://testserver/v1", api_key=API_KEY, http_client=client, max_retries=0)
    want = tiny_embedder.encode(TEXTS)
    # The client's default asks for base64 and decodes it.
    default = oa.embeddings.create(model="tiny-embedder", input=TEXTS)
    np.testing.assert_allclose(np.array([d.embedding for d in default.data]), want, atol=1e-5)
    floats = oa.embeddings.create(model="tiny-embedder", input=TEXTS[0], encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, want[0], atol=1e-5)
    assert floats.usage.prompt_tokens == tiny_embedder.count_tokens(TEXTS[0])[0]
    assert [m.id for m in oa.models.list()] == ["tiny-embedder", "tiny-cross3"]
    with pytest.raises(openai.UnprocessableEntityError, match="not loaded"):
        oa.embeddings.create(model="text-embedding-3-small", input="a")


@pytest.fixture(scope="module")
def live_server(tiny_embedder):
    """uvicorn serving the app in a thread, on a loopback socket bound to a free port."""
    with serving(LoadedModels(tiny_embedder), api_key=API_KEY) as url:
        yield url


def test_openai_client_against_real_server(live_server, tiny_embedder):
    oa = openai.OpenAI(base_url=f"{live_server}/v1", api_key=API_KEY, max_retries=0)
    result = oa.embeddings.create(model="tiny-embedder", input=TEXTS)
    np.testing.assert_allclose(
        np.array([d.embedding for d in result.data]), tiny_embedder.encode(TEXTS), atol=1e-5
    )
    bad_key = openai.OpenAI(base_url=f"{live_server}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="invalid API key"):
        bad_key.embeddings.create(model="tiny-embedder", input="a")


def test_models_load_at_startup_from_paths(tiny_embedder_dir, tiny_cross3_dir):
    from fastapi.testclient import TestClient

    settings = ServiceSettings(model=str(tiny_embedder_dir), cross_encoder=str(tiny_cross3_dir), device="cpu")
    app = create_app(settings)
    assert not hasattr(app.state, "engine")  # nothing loaded before start-up
    with TestClient(app) as c:
        cards = c.get("/models").json()["data"]
        assert [(m["id"], m["role"]) for m in cards] == [
            ("tiny-embedder", "embedder"),
            ("tiny-cross3", "cross-encoder"),
        ]
        assert c.post("/similarity", json={"pairs": [["a", "b"]]}).json()["method"] == "cross-encoder"


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser, ServiceSettings)
    return parser.parse_args(argv)


def test_settings_from_flags(monkeypatch):
    monkeypatch.delenv("SIMMATCH_API_KEY", raising=False)
    defaults = settings_from_args(_parse([]))
    assert defaults == ServiceSettings()
    assert defaults.host == "127.0.0.1"
    assert defaults.limits.max_items_per_request == 256
    assert defaults.limits.max_chars_per_text == 8192
    assert defaults.limits.max_body_bytes == 2 * 1024 * 1024
    assert (defaults.batching.max_batch_size, defaults.batching.max_wait_ms, defaults.batching.max_queue) == (
        64,
        5.0,
        1024,
    )
    s = settings_from_args(
        _parse(["-m", "m", "-c", "ce", "--index", "idx", "--port", "9000", "--api-key", "s3cret-key",
                "--max-items-per-request", "8", "--max-wait-ms", "2.5", "--no-access-log"])
    )  # fmt: skip
    assert (s.model, s.cross_encoder, str(s.index), s.port, s.access_log) == ("m", "ce", "idx", 9000, False)
    assert s.api_key is not None and s.api_key.get_secret_value() == "s3cret-key"
    assert "s3cret" not in repr(s)  # the key never shows in logs or reprs
    assert s.limits.max_items_per_request == 8 and s.batching.max_wait_ms == 2.5


def test_api_key_from_environment(monkeypatch):
    monkeypatch.setenv("SIMMATCH_API_KEY", "from-env")
    s = settings_from_args(_parse([]))
    assert s.api_key is not None and s.api_key.get_secret_value() == "from-env"


def test_invalid_setting_names_the_field():
    with pytest.raises(
        InputError, match=r"limits\.max_items_per_request: Input should be greater than or equal to 1"
    ):
        settings_from_args(_parse(["--max-items-per-request", "0"]))


def test_cli_serve_maps_flags_onto_settings(monkeypatch):
    from simmatch.cli.main import main
    from simmatch.service import server

    seen = {}
    monkeypatch.setattr(server, "serve", lambda settings, log_level: seen.update(s=settings, level=log_level))
    monkeypatch.delenv("SIMMATCH_API_KEY", raising=False)
    assert (
        main(["serve", "--model", "m", "--host", "0.0.0.0", "--max-queue", "7", "--log-level", "warning"])
        == 0
    )
    assert seen["s"] == ServiceSettings(model="m", host="0.0.0.0", batching={"max_queue": 7})
    assert seen["level"] == "warning"
    assert main(["serve", "--max-batch-size", "0"]) == 2  # InputError → one line, exit 2


def test_bad_model_is_a_one_line_error_before_the_server_starts(tmp_path, capsys):
    from simmatch.cli.main import main

    assert main(["serve", "--model", str(tmp_path / "missing"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simmatch: error: model directory") and err.count("\n") == 1


def test_odd_text_is_422_and_the_connection_keeps_serving(live_server):
    """A lone surrogate used to be a 500 after which the next request on the same keep-alive
    connection was reset."""
    import httpx

    with httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        for _ in range(2):
            bad = http.post(
                "/v1/embeddings",
                content=rb'{"input": ["ok", "\ud800"]}',
                headers={"Content-Type": "application/json"},
            )
            assert bad.status_code == 422
            assert bad.json()["error"]["message"] == (
                "input[1] contains an unpaired surrogate (U+D800): not valid Unicode text"
            )
            assert http.post("/v1/embeddings", json={"input": "ok"}).status_code == 200
        assert len(http._transport._pool.connections) == 1  # one connection served all four


def test_stall_and_shutdown_settings_from_flags(monkeypatch):
    monkeypatch.delenv("SIMMATCH_API_KEY", raising=False)
    defaults = settings_from_args(_parse([]))
    assert defaults.limits.max_tokens_per_request == 8192
    assert defaults.batching.max_batch_tokens == 1024
    assert defaults.shutdown_grace_s == 10.0
    s = settings_from_args(
        _parse(["--max-tokens-per-request", "100", "--max-batch-tokens", "512", "--shutdown-grace-s", "2.5"])
    )
    assert (s.limits.max_tokens_per_request, s.batching.max_batch_tokens, s.shutdown_grace_s) == (
        100,
        512,
        2.5,
    )
    with pytest.raises(InputError, match=r"shutdown_grace_s: Input should be greater than 0"):
        settings_from_args(_parse(["--shutdown-grace-s", "0"]))
