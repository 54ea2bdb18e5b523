"""Screenshots of each tab of the playground on the real built-in model (slow, still runs in CI).

They are taken into a temporary folder; with ``SIMMATCH_SCREENSHOTS=docs`` they are written to
``docs/playground-{compare,similarity,search,embed}.png``, the images docs/serve.md and the README
show:

    SIMMATCH_SCREENSHOTS=docs python -m pytest tests/browser/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simmatch.models.results import rank_by_scores
from simmatch.service import LoadedModels

from .conftest import Page, serving

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    {
        "id": "food-1",
        "text": "吃了海鲜后是不能再喝牛奶的，牛奶和海鲜一起吃可能引起不适",
        "metadata": {"lang": "zh", "topic": "food"},
    },
    {"id": "food-2", "text": "海鲜富含蛋白质，适量食用有益健康", "metadata": {"lang": "zh", "topic": "food"}},
    {
        "id": "food-3",
        "text": "Drinking milk right after seafood is safe for most people.",
        "metadata": {"lang": "en", "topic": "food"},
    },
    {"id": "bridge-1", "text": "桥是一种连接两岸的建筑", "metadata": {"lang": "zh", "topic": "bridge"}},
    {
        "id": "bridge-2",
        "text": "The Golden Gate Bridge spans the strait at San Francisco.",
        "metadata": {"lang": "en", "topic": "bridge"},
    },
    {
        "id": "place-1",
        "text": "福鼎是福建省宁德市下辖的县级市，太姥山就在福鼎",
        "metadata": {"lang": "zh", "topic": "place"},
    },
    {"id": "weather-1", "text": "今天天气晴朗，适合出门散步", "metadata": {"lang": "zh", "topic": "weather"}},
    {
        "id": "weather-2",
        "text": "Heavy rain is expected this afternoon.",
        "metadata": {"lang": "en", "topic": "weather"},
    },
]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    target = os.environ.get("SIMMATCH_SCREENSHOTS")
    if target:
        return (PROJECT_ROOT / target).resolve()
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def builtin_service(tmp_path_factory, builtin_e5):
    from simmatch.index import Index

    path = tmp_path_factory.mktemp("builtin-index") / "playground-demo"
    with Index.create(path, builtin_e5) as created:
        created.add(DOCS)
    index = Index.open(path, builtin_e5, read_only=True)
    try:
        with serving(LoadedModels(builtin_e5, None, index)) as base:
            yield base
    finally:
        index.close()


def test_screenshots_of_each_tab(chrome, builtin_service, builtin_e5, shots):
    page = Page(chrome, builtin_service).open()
    assert "multilingual-e5-small" in page.find("models").text

    # Compare: the CoROM widget's fourth example, ranked by the built-in model.
    page.all("#compare-examples button")[3].click()
    page.submit("compare")
    assert page.error("compare") is None
    source = page.find("compare-source").get_attribute("value")
    candidates = page.find("compare-candidates").get_attribute("value").split("\n")
    want = rank_by_scores(builtin_e5.compare(source, candidates)["scores"], candidates)
    shown = [li.find_element("css selector", ".text").text for li in page.all("#compare-results li")]
    assert shown == [r.text for r in want]
    page.screenshot(shots / "playground-compare.png")

    # Similarity: no built-in cross-encoder, so the page says it scores by cosine.
    page.tab("similarity")
    page.submit("similarity")
    assert page.error("similarity") is None
    assert page.find("similarity-method").get_attribute("data-method") == "cosine"
    assert len(page.all("#similarity-results tr[data-score]")) == 4
    page.screenshot(shots / "playground-similarity.png")

    # Search: hybrid over a small demo index.
    page.tab("search")
    page.fill("search-query", "吃海鲜能喝牛奶吗")
    page.fill("search-top-k", "4")
    page.submit("search")
    assert page.error("search") is None
    hits = [h.get_attribute("data-id") for h in page.all("#search-results li.hit")]
    assert hits[0] == "food-1" and len(hits) == 4
    page.screenshot(shots / "playground-search.png")

    # Embed: eight texts in three topics and two languages, and their 2-D PCA map.
    page.tab("embed")
    page.submit("embed")
    assert page.error("embed") is None
    assert len(page.all("#embed-plot g.point")) == 8
    page.screenshot(shots / "playground-embed.png")

    for name in ("compare", "similarity", "search", "embed"):
        png = shots / f"playground-{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
