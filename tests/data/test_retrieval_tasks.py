"""Retrieval tasks derived from QBQTC and LCQMC: deterministic, consistent with the pair files."""

from __future__ import annotations

import pytest

from simmatch.data import RetrievalTask, lcqmc_retrieval_task, load_benchmark, qbqtc_retrieval_task
from simmatch.errors import InputError


@pytest.fixture(scope="module")
def qbqtc(data_dir):
    return qbqtc_retrieval_task("test_public", root=data_dir)


@pytest.fixture(scope="module")
def lcqmc(data_dir):
    return lcqmc_retrieval_task("test", root=data_dir)


def test_qbqtc_task_is_deterministic_and_sized(qbqtc, data_dir):
    assert qbqtc_retrieval_task("test_public", root=data_dir) == qbqtc
    # 632 label-2 rows in test_public over 630 distinct queries; 22,984 distinct titles in dev + test.
    assert (len(qbqtc.queries), len(qbqtc.corpus)) == (630, 22_984)
    assert sum(len(v) for v in qbqtc.relevant.values()) == 631
    assert qbqtc.exclude == {}
    assert list(qbqtc.corpus)[:3] == ["d0", "d1", "d2"]
    assert len(set(qbqtc.corpus.values())) == len(qbqtc.corpus)


def test_qbqtc_relevance_matches_label_2_rows(qbqtc, data_dir):
    test = load_benchmark("qbqtc", "test_public", root=data_dir)
    very = {(e.sentence1, e.sentence2) for e in test if e.label == "2"}
    derived = {(qbqtc.queries[q], qbqtc.corpus[d]) for q, docs in qbqtc.relevant.items() for d in docs}
    assert derived == very
    dev = load_benchmark("qbqtc", "dev", root=data_dir)
    assert set(qbqtc.corpus.values()) == {e.sentence2 for e in dev} | {e.sentence2 for e in test}


def test_qbqtc_dev_split(data_dir):
    task = qbqtc_retrieval_task("dev", root=data_dir)
    assert len(task.corpus) == 22_984
    assert len(task.queries) > 2000


def test_lcqmc_task_is_deterministic_and_sized(lcqmc, data_dir):
    assert lcqmc_retrieval_task("test", root=data_dir) == lcqmc
    assert (len(lcqmc.queries), len(lcqmc.corpus)) == (6147, 23_557)
    assert sum(len(v) for v in lcqmc.relevant.values()) == 6247
    assert len(set(lcqmc.corpus.values())) == len(lcqmc.corpus)


def test_lcqmc_relevance_and_self_exclusion(lcqmc, data_dir):
    test = load_benchmark("lcqmc", "test", root=data_dir)
    positives = {(e.sentence1, e.sentence2) for e in test if e.label == "1" and e.sentence1 != e.sentence2}
    derived = {(lcqmc.queries[q], lcqmc.corpus[d]) for q, docs in lcqmc.relevant.items() for d in docs}
    assert derived == positives
    assert lcqmc.corpus.keys() >= set().union(*lcqmc.relevant.values())
    for qid, text in lcqmc.queries.items():
        (own,) = lcqmc.exclude[qid]
        assert lcqmc.corpus[own] == text
        assert own not in lcqmc.relevant[qid]


def test_task_validation():
    with pytest.raises(InputError, match="relevant names unknown query id 'q9'"):
        RetrievalTask("t", {"q0": "a"}, {"d0": "b"}, {"q9": {"d0"}})
    with pytest.raises(InputError, match=r"relevant\['q0'\] names unknown document id 'd7'"):
        RetrievalTask("t", {"q0": "a"}, {"d0": "b"}, {"q0": {"d7"}})
    with pytest.raises(InputError, match="query 'q0' has no relevant document"):
        RetrievalTask("t", {"q0": "a"}, {"d0": "b"}, {"q0": set()})
