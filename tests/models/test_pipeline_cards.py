# ruff: noqa: E501 - the model cards' snippets are kept as the cards print them
"""The README's promise: code from a ModelScope model card runs on simmatch with only the import
changed (and the model id substituted: the cards' models are not here).

Each test holds a card's inference snippet as the card prints it, swaps ModelScope's imports for
``from simmatch import Tasks, pipeline`` and the card's model id for a local one, runs it, and
checks what it printed against the library called directly. Snippets, from the model cards on
modelscope.cn ("代码示例" / "推理代码范例"):

- damo/nlp_corom_sentence-embedding_chinese-base (CoROM, zh): both calls, with and without
  ``sentences_to_compare``;
- damo/nlp_corom_sentence-embedding_english-base (CoROM, en): the English card's call (the
  English cards share one snippet; the base card's model id is used here);
- damo/nlp_masts_sentence-similarity_clue_chinese-large (MaSTS): a sentence-similarity
  cross-encoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simmatch import PairClassifier, Tasks, pipeline

MODELSCOPE_IMPORTS = (
    "from modelscope.models import Model\n"
    "from modelscope.pipelines import pipeline\n"
    "from modelscope.utils.constant import Tasks\n"
)

COROM_ZH_ID = "damo/nlp_corom_sentence-embedding_chinese-base"
COROM_ZH = (
    MODELSCOPE_IMPORTS
    + """
model_id = "damo/nlp_corom_sentence-embedding_chinese-base"
pipeline_se = pipeline(Tasks.sentence_embedding,
                       model=model_id)

inputs = {
        "source_sentence": ["吃完海鲜可以喝牛奶吗?"],
        "sentences_to_compare": [
            "不可以，早晨喝牛奶不科学",
            "吃了海鲜后是不能再喝牛奶的，因为牛奶中含得有维生素C，如果海鲜喝牛奶一起服用会对人体造成一定的伤害",
            "吃海鲜是不能同时喝牛奶吃水果，这个至少间隔6小时以上才可以。",
            "吃海鲜是不可以吃柠檬的因为其中的维生素C会和海鲜中的矿物质形成砷"
        ]
    }

result = pipeline_se(input=inputs)
print (result)

inputs2 = {
        "source_sentence": [
            "不可以，早晨喝牛奶不科学",
            "吃了海鲜后是不能再喝牛奶的，因为牛奶中含得有维生素C，如果海鲜喝牛奶一起服用会对人体造成一定的伤害",
            "吃海鲜是不能同时喝牛奶吃水果，这个至少间隔6小时以上才可以。",
            "吃海鲜是不可以吃柠檬的因为其中的维生素C会和海鲜中的矿物质形成砷"
        ]
}
result = pipeline_se(input=inputs2)
print (result)
"""
)

COROM_EN_ID = "damo/nlp_corom_sentence-embedding_english-base"
COROM_EN = (
    MODELSCOPE_IMPORTS
    + """
model_id = "damo/nlp_corom_sentence-embedding_english-base"
pipeline_se = pipeline(Tasks.sentence_embedding,
                       model=model_id)

inputs = {
        "source_sentence": ["how long it take to get a master degree"],
        "sentences_to_compare": [
            "On average, students take about 18 to 24 months to complete a master degree.",
            "On the other hand, some students prefer to go at a slower pace and choose to take",
            "several years to complete their studies.",
            "It can take anywhere from two semesters"
        ]
    }


result = pipeline_se(input=inputs)
print (result)
"""
)

MASTS_ID = "damo/nlp_masts_sentence-similarity_clue_chinese-large"
MASTS = """from modelscope.pipelines import pipeline
from modelscope.utils.constant import Tasks


similarity_pipeline = pipeline(Tasks.sentence_similarity, 'damo/nlp_masts_sentence-similarity_clue_chinese-large', model_revision='v1.0.0')
print(similarity_pipeline(input=('小孩咳嗽感冒', '小孩感冒过后久咳嗽该吃什么药育儿问答宝宝树')))
"""


def run_card(snippet: str, card_model_id: str, local_model: str) -> tuple[list[Any], dict[str, Any]]:
    """Run a card snippet with only its import changed and the model id substituted; return what
    it printed (the objects, not their text) and its variables."""
    code = snippet.replace(MODELSCOPE_IMPORTS, "from simmatch import Tasks, pipeline\n")
    code = code.replace(
        "from modelscope.pipelines import pipeline\nfrom modelscope.utils.constant import Tasks\n",
        "from simmatch import Tasks, pipeline\n",
    )
    assert "modelscope" not in code.replace(card_model_id, "")
    code = code.replace(card_model_id, local_model)
    printed: list[Any] = []
    variables: dict[str, Any] = {"print": printed.append}
    exec(compile(code, "model-card", "exec"), variables)
    return printed, variables


def test_tasks_are_modelscopes_strings():
    assert Tasks.sentence_embedding == "sentence-embedding"
    assert Tasks.sentence_similarity == "sentence-similarity"
    assert Tasks.text_ranking == "text-ranking"


@pytest.mark.slow
def test_corom_zh_card(builtin_e5):
    """CoROM zh on the built-in multilingual-e5-small: with candidates, the source and every
    candidate embedded and the source scored against each; with only ``source_sentence``, all
    sentences embedded and the first scored against the rest, as the card says."""
    (with_candidates, source_only), card = run_card(COROM_ZH, COROM_ZH_ID, "multilingual-e5-small")
    inputs = card["inputs"]
    expected = builtin_e5.compare(inputs["source_sentence"], inputs["sentences_to_compare"])
    assert with_candidates["text_embedding"].shape == (5, builtin_e5.dim)
    np.testing.assert_allclose(with_candidates["text_embedding"], expected["text_embedding"], atol=1e-5)
    np.testing.assert_allclose(with_candidates["scores"], expected["scores"], atol=1e-5)

    sentences = card["inputs2"]["source_sentence"]
    vectors = builtin_e5.encode(sentences)
    assert source_only["text_embedding"].shape == (4, builtin_e5.dim)
    np.testing.assert_allclose(source_only["text_embedding"], vectors, atol=1e-5)
    assert len(source_only["scores"]) == 3
    np.testing.assert_allclose(source_only["scores"], vectors[1:] @ vectors[0], atol=1e-5)


@pytest.mark.slow
def test_corom_en_card(builtin_e5):
    """CoROM en on the built-in multilingual-e5-small."""
    (result,), card = run_card(COROM_EN, COROM_EN_ID, "multilingual-e5-small")
    inputs = card["inputs"]
    expected = builtin_e5.compare(inputs["source_sentence"], inputs["sentences_to_compare"])
    assert result["text_embedding"].shape == (5, builtin_e5.dim)
    np.testing.assert_allclose(result["scores"], expected["scores"], atol=1e-5)
    assert int(np.argmax(result["scores"])) == 0  # the card's answer is the best match


def test_masts_card(tiny_cross3_dir):
    """MaSTS on a tiny random cross-encoder with MaSTS's labels ("0", "1", "2"): no built-in
    cross-encoder exists yet (issue 11), so only the call shape and the numbers' agreement with
    ``PairClassifier.predict`` are checked, not the quality."""
    (result,), _ = run_card(MASTS, MASTS_ID, str(tiny_cross3_dir))
    pred = PairClassifier(tiny_cross3_dir, device="cpu").predict(
        [("小孩咳嗽感冒", "小孩感冒过后久咳嗽该吃什么药育儿问答宝宝树")]
    )[0]
    assert pred.probabilities is not None
    ranked = sorted(pred.probabilities.items(), key=lambda kv: -kv[1])
    assert result["labels"] == [label for label, _ in ranked]
    np.testing.assert_allclose(result["scores"], [p for _, p in ranked], atol=1e-6)


def test_embedding_pipeline_input_keyword_and_sources(tiny_embedder_dir, tiny_embedder):
    """The CoROM calls on the tiny fixture model (fast): ``input=``, several sources without
    candidates, an empty candidate list, and ModelScope's options."""
    pipe = pipeline(Tasks.sentence_embedding, model=str(tiny_embedder_dir), device="gpu", sequence_length=32)
    assert pipe.model.max_seq_length == 32
    texts = ["你好", "牛奶", "hello world"]
    vectors = tiny_embedder.encode(texts)
    for call in (
        pipe(input={"source_sentence": texts}),
        pipe({"source_sentence": texts, "sentences_to_compare": []}),
    ):
        np.testing.assert_allclose(call["text_embedding"], vectors, atol=1e-6)
        np.testing.assert_allclose(call["scores"], vectors[1:] @ vectors[0], atol=1e-6)
    one = pipe(input={"source_sentence": ["你好"]})
    assert one["text_embedding"].shape == (1, tiny_embedder.dim) and one["scores"] == []
    compared = pipe(input={"source_sentence": ["你好"], "sentences_to_compare": ["牛奶"]})
    np.testing.assert_allclose(compared["scores"], [tiny_embedder.similarity("你好", "牛奶")], atol=1e-6)


def test_pipeline_options_and_errors(tiny_embedder_dir, tiny_embedder, tiny_cross3_dir):
    from simmatch.errors import InputError

    with pytest.raises(InputError, match=r"unknown pipeline option\(s\): preprocessor"):
        pipeline(Tasks.sentence_embedding, model=str(tiny_embedder_dir), preprocessor=object())
    with pytest.raises(InputError, match="already loaded"):
        pipeline(Tasks.sentence_embedding, model=tiny_embedder, sequence_length=32)
    pipe = pipeline(Tasks.sentence_embedding, model=tiny_embedder)
    with pytest.raises(InputError, match="source_sentence must hold one text, got 2"):
        pipe(input={"source_sentence": ["a", "b"], "sentences_to_compare": ["c"]})
    with pytest.raises(InputError, match=r"source_sentence\[1\] is empty"):
        pipe(input={"source_sentence": ["a", " "]})
    rank = pipeline(Tasks.text_ranking, str(tiny_cross3_dir), model_revision="v1.0.0", sequence_length=16)
    assert rank.model.config.max_length == 16
    out = rank(input={"source_sentence": ["你好"], "sentences_to_compare": ["牛奶", "你好"]})
    np.testing.assert_allclose(
        out["scores"], rank.model.scores([("你好", "牛奶"), ("你好", "你好")]), atol=1e-6
    )
