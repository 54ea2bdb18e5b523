"""The playground page in headless Chromium, against the service on tiny models: what a person
types, clicks and reads. What the page shows must equal what the library and the endpoints give."""

from __future__ import annotations

import json
import re

import httpx
import numpy as np
import pytest

from simmatch.models.results import rank_by_scores
from simmatch.service import LoadedModels

from .conftest import Page, serving

API_KEY = "browser-test-key"
LIMIT = 3  # max_items_per_request of the limited service
DOCS = [
    {"id": "a", "text": "吃完海鲜可以喝牛奶吗?", "metadata": {"lang": "zh", "topic": "food"}},
    {"id": "b", "text": "吃海鲜不能同时喝牛奶吃水果", "metadata": {"lang": "zh", "topic": "food"}},
    {"id": "c", "text": "今天天气怎么样", "metadata": {"lang": "zh", "topic": "weather"}},
    {"id": "d", "text": "how are you today", "metadata": {"lang": "en", "topic": "chat"}},
    {"id": "e", "text": "what a good day for a walk", "metadata": {"lang": "en", "topic": "weather"}},
]


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny_embedder):
    from simmatch.index import Index

    path = tmp_path_factory.mktemp("browser-index") / "idx"
    with Index.create(path, tiny_embedder) as created:
        created.add(DOCS)
    opened = Index.open(path, tiny_embedder, read_only=True)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def full(tiny_embedder, cross3, index):
    """Embedder, 3-label cross-encoder and an index; no API key."""
    with serving(LoadedModels(tiny_embedder, cross3, index)) as base:
        yield base


@pytest.fixture(scope="module")
def limited(tiny_embedder):
    """Embedder only (cosine similarity, no index), at most LIMIT items per request."""
    with serving(LoadedModels(tiny_embedder), limits={"max_items_per_request": LIMIT}) as base:
        yield base


@pytest.fixture(scope="module")
def keyed(tiny_embedder):
    with serving(LoadedModels(tiny_embedder), api_key=API_KEY) as base:
        yield base


def post(base: str, path: str, body: dict, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(base + path, json=body, headers=headers, timeout=60)


def shown_ranking(page: Page, css: str) -> list[tuple[str, float]]:
    return [
        (li.find_element("css selector", ".text").text, float(li.get_attribute("data-score")))
        for li in page.all(css)
    ]


# ------------------------------------------------------------------------------ served as is
@pytest.mark.parametrize("path", ["/", "/ui/app.js", "/ui/style.css"])
def test_page_over_http_names_no_other_host(full, path):
    """What `curl localhost:PORT/` gets: the page (and its files), with no URL of another host."""
    r = httpx.get(full + path, timeout=30)
    assert r.status_code == 200
    assert re.findall(r"https?://", r.text) == []
    if path == "/":
        assert r.headers["content-type"].startswith("text/html")
        assert 'src="ui/app.js"' in r.text and 'href="ui/style.css"' in r.text


# ---------------------------------------------------------------------------------- compare
def test_compare_examples_rank_like_the_library(chrome, full, tiny_embedder):
    page = Page(chrome, full).open()
    examples = page.all("#compare-examples button")
    assert [b.text for b in examples] == [
        "功和功率的区别",
        "什么是桥",
        "福鼎在哪个市",
        "吃完海鲜可以喝牛奶吗?",
    ]
    for i in range(len(examples)):
        page.all("#compare-examples button")[i].click()
        source = page.find("compare-source").get_attribute("value")
        candidates = page.find("compare-candidates").get_attribute("value").split("\n")
        assert source == examples[i].text and len(candidates) in (3, 4)
        page.submit("compare")
        assert page.error("compare") is None
        want = tiny_embedder.compare(source, candidates)["scores"]
        ranked = rank_by_scores(want, candidates)
        shown = shown_ranking(page, "#compare-results li")
        assert [text for text, _ in shown] == [r.text for r in ranked]
        assert [score for _, score in shown] == pytest.approx([r.score for r in ranked], abs=1e-5)
        shown_text = [
            li.find_element("css selector", ".score").text for li in page.all("#compare-results li")
        ]
        assert shown_text == [f"{score:.4f}" for _, score in shown]


def test_compare_typed_and_submitted_by_keyboard(chrome, full, tiny_embedder):
    from selenium.webdriver.common.keys import Keys

    page = Page(chrome, full).open()
    candidates = ["how are you", "hello world", "the cat is good", "吃完海鲜可以喝牛奶吗?"]
    page.fill("compare-candidates", "\n".join(candidates) + "\n")
    page.fill("compare-source", "hello")
    output = page.find("compare-output")
    page.find("compare-source").send_keys(Keys.ENTER)  # Enter in the field submits the form
    page.until(lambda d: output.get_attribute("data-done") == "1")
    want = rank_by_scores(tiny_embedder.compare("hello", candidates)["scores"], candidates)
    assert [text for text, _ in shown_ranking(page, "#compare-results li")] == [r.text for r in want]
    # Ctrl+Enter in the text area submits too.
    page.fill("compare-candidates", "\n".join(reversed(candidates)))
    page.find("compare-candidates").send_keys(Keys.CONTROL, Keys.ENTER)
    page.until(lambda d: output.get_attribute("data-done") == "2")
    assert [text for text, _ in shown_ranking(page, "#compare-results li")] == [r.text for r in want]


# ------------------------------------------------------------------------------- similarity
def _shown_pairs(page: Page) -> list[dict]:
    rows = []
    for tr in page.all("#similarity-results tr[data-score]"):
        probs = {
            p.get_attribute("data-label"): float(p.get_attribute("data-prob"))
            for p in tr.find_elements("css selector", ".prob")
        }
        label = tr.get_attribute("data-label")
        rows.append(
            {
                "label": label or None,
                "probabilities": probs or None,
                "score": float(tr.get_attribute("data-score")),
            }
        )
    return rows


def test_similarity_labels_and_probabilities_equal_the_endpoint(chrome, full, cross3):
    page = Page(chrome, full).open()
    page.tab("similarity")
    note = page.find("similarity-method-note").text
    assert note.startswith("Each pair is classified by the cross-encoder tiny-cross3 (labels: 0, 1, 2)")
    page.fill("pair-a-0", "吃完海鲜可以喝牛奶吗?")
    page.fill("pair-b-0", "吃海鲜不能同时喝牛奶")
    page.find("pair-add").click()
    assert page.driver.switch_to.active_element == page.find("pair-a-4")  # focus moves to the new pair
    page.fill("pair-a-4", "hello world")
    page.fill("pair-b-4", "how are you")
    pairs = [
        [page.find(f"pair-a-{i}").get_attribute("value"), page.find(f"pair-b-{i}").get_attribute("value")]
        for i in range(5)
    ]
    page.submit("similarity")
    assert page.error("similarity") is None
    assert page.find("similarity-method").get_attribute("data-method") == "cross-encoder"
    endpoint = post(full, "/similarity", {"pairs": pairs}).json()
    shown = _shown_pairs(page)
    assert shown == endpoint["data"]  # exactly: the page shows the endpoint's numbers
    library = cross3.predict([tuple(p) for p in pairs])
    assert [row["label"] for row in shown] == [p.label for p in library]
    for row, pred in zip(shown, library):
        assert row["probabilities"] == pytest.approx(pred.probabilities, abs=1e-5)
    # The best label is the highlighted one.
    first = page.all("#similarity-results tr[data-score]")[0]
    assert first.find_element("css selector", ".prob.best").get_attribute("data-label") == shown[0]["label"]


def test_similarity_without_a_cross_encoder_says_cosine(chrome, limited, tiny_embedder):
    page = Page(chrome, limited).open()
    page.tab("similarity")
    assert page.find("similarity-method-note").text.startswith(
        "No cross-encoder is loaded: each pair is scored by the cosine of its two embeddings (tiny-embedder)."
    )
    for i in range(len(page.all("#pairs .pair")) - 1, 1, -1):  # keep two pairs: within the limit
        page.find(f"pair-a-{i}").find_element("xpath", "../..").find_element("css selector", "button").click()
    pairs = [[page.find(f"pair-{s}-{i}").get_attribute("value") for s in "ab"] for i in range(2)]
    page.submit("similarity")
    assert (
        page.find("similarity-method").text
        == "Method: cosine of embeddings (tiny-embedder), no cross-encoder loaded"
    )
    shown = _shown_pairs(page)
    assert shown == post(limited, "/similarity", {"pairs": pairs}).json()["data"]
    assert all(row["label"] is None and row["probabilities"] is None for row in shown)
    want = tiny_embedder.similarity_pairwise([a for a, _ in pairs], [b for _, b in pairs])
    assert [row["score"] for row in shown] == pytest.approx(want.tolist(), abs=1e-5)


# ----------------------------------------------------------------------------------- search
@pytest.mark.parametrize(
    "options",
    [
        {"mode": "hybrid", "top_k": 3, "rerank": True, "rerank_top_k": 4},
        {"mode": "dense", "top_k": 5, "filter": {"lang": "zh"}},
        {"mode": "bm25", "top_k": 2},
    ],
)
def test_search_hits_equal_the_index(chrome, full, index, cross3, options):
    from selenium.webdriver.support.ui import Select

    page = Page(chrome, full).open()
    page.tab("search")
    assert page.find("search-note").text == "Searching the index idx (5 documents)."
    assert Select(page.find("search-mode")).first_selected_option.text == "hybrid"  # the service's default
    query = "喝牛奶 海鲜"
    page.fill("search-query", query)
    Select(page.find("search-mode")).select_by_value(options["mode"])
    page.fill("search-top-k", str(options["top_k"]))
    if options.get("rerank"):
        page.find("search-rerank").click()
        page.fill("search-rerank-top-k", str(options["rerank_top_k"]))
    if "filter" in options:
        page.fill("search-filter", json.dumps(options["filter"]))
    page.submit("search")
    assert page.error("search") is None
    kwargs = {k: v for k, v in options.items() if k != "rerank"}
    want = index.search(query, rerank=cross3 if options.get("rerank") else None, **kwargs)
    hits = page.all("#search-results li.hit")
    assert [h.get_attribute("data-id") for h in hits] == [w.id for w in want]
    endpoint = post(full, "/search", {"query": query, **options}).json()["hits"]
    for hit, exp, library in zip(hits, endpoint, want):
        assert hit.find_element("css selector", ".text").text == exp["text"]
        assert json.loads(hit.get_attribute("data-scores")) == exp["scores"]
        assert float(hit.get_attribute("data-score")) == exp["score"]
        assert exp["scores"] == pytest.approx(library.scores, abs=1e-5)
        chips = [m.text for m in hit.find_elements("css selector", ".meta")]
        assert chips == [f"{k}: {json.dumps(v)}" for k, v in library.metadata.items()]
        stages = [
            th.get_attribute("data-stage") for th in hit.find_elements("css selector", "th[data-stage]")
        ]
        expected = {"dense": ["dense"], "bm25": ["bm25"], "hybrid": ["dense", "bm25", "fusion"]}[
            options["mode"]
        ]
        if options.get("rerank"):
            expected = [*expected, "first_stage", "rerank"]
        assert sorted(stages) == sorted(expected)


def test_search_errors_from_the_page_and_the_service(chrome, full):
    page = Page(chrome, full).open()
    page.tab("search")
    page.fill("search-query", "海鲜")
    page.fill("search-filter", "{lang")
    page.find("search-run").click()
    assert page.error("search").startswith("the metadata filter is not valid JSON:")
    page.fill("search-filter", '{"lang": ["zh"]}')
    page.submit("search")
    service = post(full, "/search", {"query": "海鲜", "filter": {"lang": ["zh"]}})
    assert service.status_code == 422
    assert page.error("search") == service.json()["error"]["message"]


def test_search_without_an_index_says_so(chrome, limited):
    page = Page(chrome, limited).open()
    page.tab("search")
    assert (
        page.find("search-note").text
        == "No index is loaded: start the service with --index PATH to search one."
    )
    assert not page.find("search-query").is_enabled() and not page.find("search-run").is_enabled()


# ------------------------------------------------------------------------------------ embed
def test_embed_dims_norms_and_pca(chrome, full, tiny_embedder):
    from sklearn.decomposition import PCA

    page = Page(chrome, full).open()
    page.tab("embed")
    texts = [t for t in page.find("embed-texts").get_attribute("value").split("\n") if t]
    assert len(texts) == 8
    page.submit("embed")
    assert page.error("embed") is None
    vectors = tiny_embedder.encode(texts, kind="query")
    rows = page.all("#embed-results tr[data-dims]")
    assert [int(r.get_attribute("data-dims")) for r in rows] == [tiny_embedder.dim] * len(texts)
    norms = [float(r.get_attribute("data-norm")) for r in rows]
    assert norms == pytest.approx(np.linalg.norm(vectors, axis=1).tolist(), abs=1e-5)
    assert (
        f"{len(texts)} texts embedded by tiny-embedder: {tiny_embedder.dim} dimensions each"
        in page.find("embed-summary").text
    )
    # The scatter: one labelled point per text, at the texts' first two principal components.
    points = page.all("#embed-plot g.point")
    assert [p.find_element("css selector", "text").text for p in points] == [
        t if len(t) <= 28 else t[:27] + "…" for t in texts
    ]
    shown = np.array([[float(p.get_attribute("data-x")), float(p.get_attribute("data-y"))] for p in points])
    pca = PCA(n_components=2).fit(vectors.astype(np.float64))
    want = pca.transform(vectors.astype(np.float64))
    for k in range(2):  # a component's sign is arbitrary
        sign = np.sign(shown[:, k] @ want[:, k])
        np.testing.assert_allclose(shown[:, k], sign * want[:, k], atol=1e-4)
    ratios = [f"{100 * r:.1f}%" for r in pca.explained_variance_ratio_]
    caption = page.find("embed-caption").text
    assert "computed in this page (the service has no projection endpoint)" in caption
    assert f"explains {ratios[0]} of the variance, the second {ratios[1]}" in caption


# ----------------------------------------------------------------------------------- errors
def test_over_limit_and_bad_input_errors_are_the_service_messages(chrome, limited):
    page = Page(chrome, limited).open()
    candidates = ["a", "b", "c", "d"]
    page.fill("compare-candidates", "\n".join(candidates))
    page.submit("compare")
    message = f"sentences_to_compare has 4 items; the limit is max_items_per_request={LIMIT}"
    assert page.error("compare") == message
    assert page.find("compare-error").find_element("css selector", ".status").text == "422 limit_exceeded"
    service = post(
        limited, "/compare", {"source_sentence": "吃完海鲜可以喝牛奶吗?", "sentences_to_compare": candidates}
    )
    assert service.json()["error"]["message"] == message
    # Bad input: the library's validator speaks through the service, word for word.
    page.fill("compare-candidates", "a\nb")
    page.fill("compare-source", "   ")
    page.submit("compare")
    service = post(limited, "/compare", {"source_sentence": "   ", "sentences_to_compare": ["a", "b"]})
    assert page.error("compare") == service.json()["error"]["message"]
    assert page.all("#compare-results li") == []
    # A valid request clears the error.
    page.fill("compare-source", "hello")
    page.submit("compare")
    assert page.error("compare") is None and len(page.all("#compare-results li")) == 2


# ---------------------------------------------------------------------------------- API key
def test_key_prompt_when_the_service_has_a_key(chrome, keyed):
    page = Page(chrome, keyed).open()
    panel = page.find("key-panel")
    assert panel.is_displayed()
    assert page.find("key-problem").text == "missing API key: send the header 'Authorization: Bearer <key>'"
    assert page.find("models").get_attribute("data-loaded") == "error"
    page.fill("api-key", "wrong-key")
    page.find("key-save").click()
    page.until(lambda d: page.find("key-problem").text == "invalid API key")
    page.fill("api-key", API_KEY)
    page.find("api-key").submit()
    page.until(lambda d: page.find("models").get_attribute("data-loaded") == "ok")
    assert not panel.is_displayed() and page.find("key-status").is_displayed()
    chips = [c.get_attribute("data-id") for c in page.all("#models .model-chip[data-role=embedder]")]
    assert chips == ["tiny-embedder"]
    storage = page.driver.execute_script(
        "return [sessionStorage.getItem('simmatch-api-key'), JSON.stringify(localStorage)]"
    )
    assert storage == [API_KEY, "{}"]  # the session only, never localStorage
    page.submit("compare")
    assert page.error("compare") is None and len(page.all("#compare-results li")) == 4
    # A reload in the same tab keeps the key; "Forget key" drops it and the prompt comes back.
    page.driver.refresh()
    page.until(lambda d: page.find("models").get_attribute("data-loaded") == "ok")
    assert not page.find("key-panel").is_displayed()
    page.find("key-forget").click()
    page.until(lambda d: page.find("key-panel").is_displayed())
    assert page.driver.execute_script("return sessionStorage.getItem('simmatch-api-key')") is None


# ----------------------------------------------------------------- language, keyboard, labels
def test_chinese_and_english(chrome, full):
    from selenium.webdriver.support.ui import Select

    page = Page(chrome, full).open()
    page.submit("compare")
    Select(page.find("lang")).select_by_value("zh")
    assert page.driver.execute_script("return document.documentElement.lang") == "zh-CN"
    tabs = [page.find(f"tab-{name}").text for name in ("compare", "similarity", "search", "embed")]
    assert tabs == ["句子比较", "相似度", "检索", "向量"]
    assert page.find("compare-source").find_element("xpath", "preceding-sibling::label[1]").text == "源句子"
    assert (
        page.find("compare-output").find_element("css selector", "p").text.startswith("由 tiny-embedder 打分")
    )
    page.tab("search")
    assert page.find("search-note").text == "检索索引 idx（共 5 篇文档）。"
    page.driver.refresh()  # the choice lasts for the tab's session
    assert page.find("tab-compare").text == "句子比较"
    Select(page.find("lang")).select_by_value("en")
    assert page.find("tab-compare").text == "Compare"


def test_keyboard_tabs_and_labelled_fields(chrome, full):
    from selenium.webdriver.common.keys import Keys

    page = Page(chrome, full).open()
    unlabelled = page.driver.execute_script(
        """return [...document.querySelectorAll('input, select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.id || e.outerHTML)"""
    )
    assert unlabelled == []
    page.find("tab-compare").send_keys(Keys.ARROW_RIGHT)
    active = page.driver.switch_to.active_element
    assert active == page.find("tab-similarity") and active.get_attribute("aria-selected") == "true"
    assert page.find("panel-similarity").is_displayed() and not page.find("panel-compare").is_displayed()
    active.send_keys(Keys.END)
    assert page.find("tab-embed").get_attribute("aria-selected") == "true"
    page.driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)  # wraps around
    assert page.find("tab-compare").get_attribute("aria-selected") == "true"
    # Only the selected tab is in the Tab order (the others are reached with the arrow keys).
    assert [
        page.find(f"tab-{n}").get_attribute("tabindex") for n in ("compare", "similarity", "search", "embed")
    ] == [
        "0",
        "-1",
        "-1",
        "-1",
    ]


def test_models_listed(chrome, full):
    page = Page(chrome, full).open()
    chips = [c.text for c in page.all("#models .model-chip")]
    assert chips == [
        "tiny-embedder · embedder · torch · 32 dims",
        "tiny-cross3 · cross-encoder · labels 0, 1, 2",
        "index idx · 5 documents",
    ]
