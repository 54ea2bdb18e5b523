"""Evaluators with a deterministic fake encoder / scripted classifier, plus one pass with the tiny real
models of tests/conftest.py."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, f1_score

from simmatch.data import PairDataset, PairExample, RetrievalTask
from simmatch.errors import InputError
from simmatch.evaluation import (
    EmbeddingSimilarityEvaluator,
    PairClassificationEvaluator,
    RetrievalEvaluator,
    best_threshold,
    correlation_metrics,
    embedding_search,
    pair_cosines,
    plot_scores,
    threshold_accuracy,
)

from .conftest import ScriptedClassifier


def binary(rows, name="pairs"):
    return PairDataset(
        [PairExample(a, b, label) for a, b, label in rows],
        name=name,
        label_type="class",
        label_set=("0", "1"),
    )


TEST = binary(
    [
        ("如何办理信用卡", "信用卡怎么办理", "1"),
        ("今天天气怎么样", "今天天气如何", "1"),
        ("花呗怎么还款", "借呗额度提升", "0"),
        ("苹果手机多少钱", "香蕉怎么种植", "0"),
        ("怎么修改密码", "密码如何修改", "1"),
        ("北京有什么好玩的", "上海的美食推荐", "0"),
    ],
    "test",
)
DEV = binary(
    [
        ("信用卡额度", "信用卡的额度", "1"),
        ("天气预报", "明天下雨吗", "0"),
        ("修改手机号", "手机号怎么修改", "1"),
        ("火车票退票", "飞机延误赔偿", "0"),
    ],
    "dev",
)


def test_pair_cosines_encode_each_text_once(hash_encoder):
    dataset = binary([("a b", "a b", "1"), ("a b", "c d", "0")])
    cosines = pair_cosines(hash_encoder, dataset, kind="passage")
    assert cosines[0] == pytest.approx(1.0)
    assert cosines[1] < 1.0
    assert hash_encoder.calls == [(2, "passage")]  # "a b" and "c d", once each


def test_embedding_similarity_correlations(hash_encoder):
    evaluator = EmbeddingSimilarityEvaluator(TEST)
    got = evaluator(hash_encoder)
    cosines = pair_cosines(hash_encoder, TEST)
    positives = [label == "1" for label in TEST.labels]
    expected = correlation_metrics([float(x) for x in TEST.labels], cosines)
    assert got == pytest.approx({**expected, "ap": average_precision_score(positives, cosines)})
    assert got["spearman"] > 0.5  # shared characters do mark the paraphrases
    assert evaluator.primary_metric == "spearman"


def test_embedding_similarity_threshold_comes_from_dev(hash_encoder):
    got = EmbeddingSimilarityEvaluator(TEST, threshold_from=DEV)(hash_encoder)
    dev_threshold, dev_accuracy = best_threshold(
        pair_cosines(hash_encoder, DEV), [label == "1" for label in DEV.labels]
    )
    test_cosines = pair_cosines(hash_encoder, TEST)
    positives = [label == "1" for label in TEST.labels]
    assert got["threshold"] == pytest.approx(dev_threshold)
    assert got["dev_accuracy"] == pytest.approx(dev_accuracy)
    assert got["accuracy"] == pytest.approx(threshold_accuracy(test_cosines, positives, dev_threshold))
    assert got["f1"] == pytest.approx(f1_score(positives, test_cosines >= dev_threshold))
    assert {"spearman", "pearson"} <= set(got)


def test_embedding_similarity_scores_and_errors(hash_encoder):
    scored = PairDataset(
        [
            PairExample("a b c", "a b c", 5.0),
            PairExample("a b c", "a b d", 3.0),
            PairExample("a", "x y z", 0.0),
        ],
        label_type="score",
        score_range=(0, 5),
    )
    got = EmbeddingSimilarityEvaluator(scored)(hash_encoder)
    assert got["spearman"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="threshold_from needs binary class labels"):
        EmbeddingSimilarityEvaluator(scored, threshold_from=DEV)
    assert "ap" not in got  # scores: no positive class
    unlabeled = PairDataset([PairExample("a", "b", None)], name="u.tsv")
    with pytest.raises(InputError, match=r"needs a labeled dataset; u\.tsv has no label column"):
        EmbeddingSimilarityEvaluator(unlabeled)


NLI = PairDataset(
    [
        PairExample("a b c", "a b c", "entailment"),
        PairExample("a b c", "a b d", "neutral"),
        PairExample("a", "x y z", "contradiction"),
    ],
    name="nli.tsv",
    label_type="class",
    label_set=("contradiction", "entailment", "neutral"),
)


def test_embedding_similarity_refuses_unordered_labels(hash_encoder):
    """3-class string labels used to be correlated by their alphabetical position."""
    with pytest.raises(
        InputError,
        match=r"nli.tsv: labels contradiction, entailment, neutral are not numbers, so a correlation "
        r"with them has no order; map each to a number or drop it with label_map \(CLI: --label-map "
        r"contradiction=N,entailment=N,neutral=N, N a number or drop\)",
    ):
        EmbeddingSimilarityEvaluator(NLI)
    assert hash_encoder.calls == []
    # Classes are fine for a cross-encoder: no correlation is computed.
    assert PairClassificationEvaluator(NLI).primary_metric == "macro_f1"
    # Two string classes keep their order (the last of label_set is positive).
    two = NLI[::2]
    two = PairDataset(list(two), label_type="class", label_set=("contradiction", "entailment"))
    got = EmbeddingSimilarityEvaluator(two)(hash_encoder)
    assert got["ap"] == 1.0 and got["spearman"] == pytest.approx(1.0)


def test_threshold_from_the_evaluated_pairs_is_refused(hash_encoder):
    message = (
        "threshold_from holds the same pairs as test: choosing the threshold on the evaluated split "
        "overstates accuracy; pass a dev split"
    )
    with pytest.raises(InputError, match=message):
        EmbeddingSimilarityEvaluator(TEST, threshold_from=TEST)
    with pytest.raises(InputError, match=message):  # a reordered copy is the same data
        EmbeddingSimilarityEvaluator(
            TEST, threshold_from=binary([(e.sentence1, e.sentence2, e.label) for e in reversed(TEST)])
        )


def test_pair_classification_matches_sklearn():
    predicted = ["1", "0", "0", "0", "1", "1"]
    evaluator = PairClassificationEvaluator(TEST)
    got = evaluator(ScriptedClassifier(labels=predicted))
    assert got["accuracy"] == pytest.approx(accuracy_score(TEST.labels, predicted))
    assert got["macro_f1"] == pytest.approx(f1_score(TEST.labels, predicted, average="macro"))
    assert got["f1_1"] == pytest.approx(f1_score(TEST.labels, predicted, pos_label="1"))
    assert evaluator.primary_metric == "accuracy"


def test_pair_classification_binary_ap_matches_sklearn():
    scores = [0.9, 0.8, 0.3, 0.1, 0.6, 0.7]
    predicted = ["1" if x >= 0.5 else "0" for x in scores]
    evaluator = PairClassificationEvaluator(TEST)
    got = evaluator(ScriptedClassifier(labels=predicted, scores=scores))
    positives = [label == "1" for label in TEST.labels]
    assert got["ap"] == average_precision_score(positives, scores)
    assert set(got) == {"accuracy", "macro_f1", "f1_0", "f1_1", "ap"}
    assert evaluator.primary_metric == "accuracy"  # kept; ap is another metric, and may be chosen
    assert PairClassificationEvaluator(TEST, primary_metric="ap").primary_metric == "ap"
    # String labels: the positive class is the last of label_set, here "yes".
    yes_no = PairDataset(
        [PairExample(e.sentence1, e.sentence2, "yes" if e.label == "1" else "no") for e in TEST],
        label_type="class",
        label_set=("no", "yes"),
    )
    got = PairClassificationEvaluator(yes_no)(
        ScriptedClassifier(labels=["yes" if x >= 0.5 else "no" for x in scores], scores=scores)
    )
    assert got["ap"] == average_precision_score(positives, scores)


def test_pair_classification_graded_regression_and_errors():
    graded = PairDataset(
        [PairExample("a", "b", "2"), PairExample("c", "d", "0")],
        label_type="class",
        label_set=("0", "1", "2"),
    )
    assert PairClassificationEvaluator(graded).primary_metric == "macro_f1"
    assert "ap" not in PairClassificationEvaluator(graded)(
        ScriptedClassifier(labels=["2", "0"], scores=[1, 0])
    )
    with pytest.raises(
        InputError, match="primary_metric must be one of accuracy, macro_f1, f1_0, f1_1, f1_2,"
    ):
        PairClassificationEvaluator(graded, primary_metric="ap")
    scored = PairDataset(
        [PairExample("a", "b", 1.0), PairExample("c", "d", 4.0), PairExample("e", "f", 2.0)],
        label_type="score",
    )
    got = PairClassificationEvaluator(scored)(ScriptedClassifier(scores=[0.1, 0.9, 0.5]))
    assert got == pytest.approx(
        {"spearman": 1.0, "pearson": correlation_metrics([1, 4, 2], [0.1, 0.9, 0.5])["pearson"]}
    )
    with pytest.raises(InputError, match="is not one of the labels"):
        PairClassificationEvaluator(TEST)(ScriptedClassifier(labels=["yes"] * len(TEST)))
    with pytest.raises(InputError, match="primary_metric must be one of accuracy, macro_f1, f1_0, f1_1"):
        PairClassificationEvaluator(TEST, primary_metric="auc")


TASK = RetrievalTask(
    "toy",
    queries={"q0": "信用卡怎么办理", "q1": "密码如何修改"},
    corpus={
        "d0": "信用卡怎么办理",
        "d1": "如何办理信用卡",
        "d2": "密码如何修改",
        "d3": "怎么修改密码",
        "d4": "天气",
    },
    relevant={"q0": {"d1"}, "q1": {"d3"}},
    exclude={"q0": {"d0"}, "q1": {"d2"}},
)


def test_retrieval_evaluator_removes_excluded_documents():
    requested = []

    def search(queries, top_k):
        requested.append(top_k)
        own = {"信用卡怎么办理": "d0", "密码如何修改": "d2"}
        relevant = {"信用卡怎么办理": "d1", "密码如何修改": "d3"}
        return [[own[q], "d4", relevant[q]] for q in queries]

    evaluator = RetrievalEvaluator(TASK, search)
    got = evaluator()
    assert requested == [51]  # depth 50 plus one excluded document per query
    assert got["mrr@10"] == pytest.approx(0.5)  # the query's own text no longer counts as rank 1
    assert got["recall@1"] == 0.0 and got["recall@10"] == 1.0
    assert evaluator.primary_metric == "ndcg@10"


def test_retrieval_evaluator_with_embedding_search(hash_encoder):
    got = RetrievalEvaluator(TASK)(hash_encoder)
    assert set(got) == {"mrr@10", "ndcg@10", "recall@1", "recall@10", "recall@50"}
    assert got["recall@10"] == 1.0  # five documents: everything is retrieved
    assert {kind for _, kind in hash_encoder.calls} == {"query", "passage"}
    search = embedding_search(hash_encoder, TASK.corpus)
    assert search(["天气"], 2)[0][0] == "d4"


def test_retrieval_evaluator_errors():
    with pytest.raises(InputError, match="not a document id of 'toy'"):
        RetrievalEvaluator(TASK, lambda queries, k: [[0, 1] for _ in queries])()
    with pytest.raises(InputError, match="returned 1 rankings for 2 queries"):
        RetrievalEvaluator(TASK, lambda queries, k: [["d1"]])()
    with pytest.raises(InputError, match="needs a search_fn or a model"):
        RetrievalEvaluator(TASK)()


def test_plot_scores_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.random(200) < 0.5
    scores = labels * 0.4 + rng.normal(scale=0.3, size=200)
    path = plot_scores(scores, labels.astype(int), tmp_path / "plots" / "scores.png", threshold=0.2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    graded = plot_scores(scores, rng.integers(0, 3, 200), tmp_path / "graded.png")
    assert graded.stat().st_size > 1000
    with pytest.raises(InputError, match="equal length"):
        plot_scores([0.1], [0, 1], tmp_path / "x.png")


def test_evaluators_with_tiny_real_models(tiny_embedder, tiny_cross3_dir):
    """Each evaluator's dict equals the metrics computed here, with sklearn/scipy, from the models'
    own outputs on the same data."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import ndcg_score

    from simmatch.models import PairClassifier

    clf = PairClassifier(str(tiny_cross3_dir), device="cpu")
    graded = PairDataset(
        [PairExample("吃完海鲜可以喝牛奶吗", "海鲜和牛奶", label) for label in ("0", "1", "2")]
        + [PairExample("今天天气", "天气好吗", "1")],
        label_type="class",
        label_set=("0", "1", "2"),
    )
    gold, predicted = list(graded.labels), [p.label for p in clf.predict(graded.pairs)]
    per_class = f1_score(gold, predicted, labels=["0", "1", "2"], average=None, zero_division=0)
    assert PairClassificationEvaluator(graded)(clf) == pytest.approx(
        {
            "accuracy": accuracy_score(gold, predicted),
            "macro_f1": f1_score(gold, predicted, labels=["0", "1", "2"], average="macro", zero_division=0),
            **{f"f1_{label}": f for label, f in zip(("0", "1", "2"), per_class)},
        }
    )

    def cosines(dataset):
        a = tiny_embedder.encode([e.sentence1 for e in dataset], kind="query")
        b = tiny_embedder.encode([e.sentence2 for e in dataset], kind="query")
        return np.einsum("ij,ij->i", a, b)  # the vectors are normalised

    test_cos, dev_cos = cosines(TEST), cosines(DEV)
    test_pos = np.array([label == "1" for label in TEST.labels])
    dev_pos = np.array([label == "1" for label in DEV.labels])
    got = EmbeddingSimilarityEvaluator(TEST, threshold_from=DEV)(tiny_embedder)
    threshold = got["threshold"]
    best_dev = max(accuracy_score(dev_pos, dev_cos >= t) for t in [*dev_cos, np.inf])
    assert accuracy_score(dev_pos, dev_cos >= threshold) == pytest.approx(best_dev)  # chosen on dev
    gold_numbers = [float(label) for label in TEST.labels]
    assert got == pytest.approx(
        {
            "spearman": spearmanr(gold_numbers, test_cos).statistic,
            "pearson": pearsonr(gold_numbers, test_cos).statistic,
            "threshold": threshold,
            "accuracy": accuracy_score(test_pos, test_cos >= threshold),
            "f1": f1_score(test_pos, test_cos >= threshold),
            "dev_accuracy": best_dev,
            "ap": average_precision_score(test_pos, test_cos),
        },
        abs=1e-5,  # the evaluator encodes each distinct text once, in other batches: float32 noise
    )

    qids, docs = list(TASK.relevant), list(TASK.corpus)
    scores = (
        tiny_embedder.encode([TASK.queries[q] for q in qids], kind="query")
        @ tiny_embedder.encode([TASK.corpus[d] for d in docs], kind="passage").T
    )
    for i, qid in enumerate(qids):  # an excluded document is removed: it ranks below every other
        for d in TASK.exclude.get(qid, ()):
            scores[i, docs.index(d)] = -np.inf
    relevance = np.array([[d in TASK.relevant[q] for d in docs] for q in qids], dtype=float)
    ranks = [1 + int((scores[i] > scores[i][relevance[i] == 1].max()).sum()) for i in range(len(qids))]
    finite = np.where(np.isfinite(scores), scores, -1e9)
    assert RetrievalEvaluator(TASK)(tiny_embedder) == pytest.approx(
        {
            "ndcg@10": ndcg_score(relevance, finite, k=10),
            "mrr@10": np.mean([1 / r for r in ranks]),
            "recall@1": np.mean([r == 1 for r in ranks]),
            "recall@10": 1.0,  # five documents
            "recall@50": 1.0,
        },
        abs=1e-6,
    )
