"""``Index.open`` on Milvus honours ``read_only``, ``write`` and the recorded-settings checks as the
local store does; ``filter_fields`` reaches a Milvus index from ``Index.create`` and from
``simmatch index create --filter-fields``, and is refused for the local store."""

from __future__ import annotations

import json

import pytest

from simmatch.cli.main import main
from simmatch.errors import InputError
from simmatch.index import Index
from tests.index.conftest import CORPUS, FakeEncoder

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("milvus") / "options.db")
    with Index.create(f"{path}#docs", FakeEncoder()) as index:
        index.add(CORPUS[:4], show_progress=False)
    return path


def test_read_only_refuses_writes_and_still_searches(db):
    with Index.open(f"{db}#docs", FakeEncoder(), read_only=True) as index:
        message = f"index at {index.path} was opened read_only=True; it cannot be changed"
        with pytest.raises(InputError) as err:
            index.add(CORPUS[4:6], show_progress=False)
        assert str(err.value) == message
        with pytest.raises(InputError) as err:
            index.delete([CORPUS[0]["id"]])
        assert str(err.value) == message
        assert len(index) == 4 and index.info()["read_only"] is True
        assert index.search(CORPUS[0]["text"], top_k=1, mode="dense")[0].id == CORPUS[0]["id"]
    with Index.open(f"{db}#docs", write=True) as index:
        assert index.info()["read_only"] is False
        assert index.delete([CORPUS[3]["id"]]) == 1
    with pytest.raises(InputError, match=r"^Index\.open: write=True and read_only=True exclude each other$"):
        Index.open(f"{db}#docs", read_only=True, write=True)


@pytest.mark.parametrize(
    ("option", "value", "recorded"),
    [("normalize", False, True), ("passage_kind", "query", "passage"), ("query_kind", "passage", "query")],
)
def test_recorded_settings_are_checked(db, option, value, recorded):
    location = f"{db}#docs"
    with pytest.raises(InputError) as err:
        Index.open(location, **{option: value})
    assert str(err.value) == f"index at {location} was built with {option}={recorded!r}, not {value!r}"
    with Index.open(location, **{option: recorded}) as index:
        assert index.settings[option] == recorded


def test_filter_fields_reach_milvus_and_are_refused_locally(db, tmp_path):
    with Index.create(f"{db}#fields", FakeEncoder(), filter_fields=["lang"]) as index:
        assert index.info()["filter_fields"] == ["lang"]
    with pytest.raises(InputError, match=r"^filter_fields applies to a Milvus index"):
        Index.create(tmp_path / "local", FakeEncoder(), filter_fields=["lang"])
    assert not (tmp_path / "local").exists()


def test_cli_index_create_takes_filter_fields(db, tiny_embedder_dir, capsys):
    code = main(
        ["index", "create", f"{db}#cli", "--model", str(tiny_embedder_dir), "--filter-fields", "lang, source"]
    )
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["filter_fields"] == ["lang", "source"] and info["collection"] == "cli"
