"""Shared fixtures: tiny random BERT models with a small zh/en vocabulary, built once per session.

They are real transformers / sentence-transformers directories, so every code path (loading,
tokenizing, pooling, saving) is the production one; only the weights are random and small."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DATA_ROOT = PROJECT_ROOT.parent / "shared" / "data"

_CHARS = (
    "我你他她们的是不了在有人这个上来到时大地为子中说生国年着就那和要出也得里后以会家可下而过天去能对小多然"
    "于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿"
    "回位分爱老因很给名法间斯知世什两次使身者被高已亲其进此话常与活正感吃完海鲜可以喝牛奶吗柠檬水果蔬菜同饭后"
    "什么怎样哪里谁请问吧呢啊？！，。、"
)
_WORDS = [
    "hello",
    "world",
    "how",
    "are",
    "you",
    "the",
    "a",
    "is",
    "what",
    "good",
    "day",
    "milk",
    "seafood",
    "drink",
    "eat",
    "can",
    "i",
    "after",
    "lemon",
    "water",
    "cat",
    "dog",
    "search",
    "query",
    "passage",
    ":",
    "?",
    ".",
    ",",
    "!",
    "##s",
    "##ing",
    "##ed",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _vocab() -> dict[str, int]:
    tokens = SPECIALS + list(dict.fromkeys(_CHARS)) + _WORDS + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


def build_tokenizer(out: Path):
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import PreTrainedTokenizerFast

    vocab = _vocab()
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    fast.save_pretrained(out)
    return fast, vocab


def _bert_config(vocab_size: int, **kw):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        **kw,
    )


def build_tiny_embedder(out: Path, prompts: bool = True) -> Path:
    """A sentence-transformers directory: tiny BERT → mean pooling → normalize, e5-style prompts."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertModel

    torch.manual_seed(0)
    raw = out.parent / (out.name + "-raw")
    _, vocab = build_tokenizer(raw)
    BertModel(_bert_config(len(vocab))).save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=64)
    model = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean"), Normalize()],
        prompts={"query": "query: ", "passage": "passage: "} if prompts else None,
        device="cpu",
    )
    model.save(str(out))
    shutil.rmtree(raw)
    return out


def build_tiny_cross_encoder(out: Path, labels: list[str] | None) -> Path:
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(1)
    _, vocab = build_tokenizer(out)
    if labels is None:
        cfg = _bert_config(len(vocab), num_labels=1)
    else:
        cfg = _bert_config(
            len(vocab),
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={v: i for i, v in enumerate(labels)},
        )
    BertForSequenceClassification(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_embedder_dir(tmp_path_factory) -> Path:
    return build_tiny_embedder(tmp_path_factory.mktemp("models") / "tiny-embedder")


@pytest.fixture(scope="session")
def tiny_cross3_dir(tmp_path_factory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-cross3", ["0", "1", "2"])


@pytest.fixture(scope="session")
def trained_cross3_dir(tmp_path_factory, tiny_cross3_dir) -> Path:
    """The tiny 3-label model after 20 training steps on toy pairs: its logits differ from pair to
    pair (the random one scores every pair alike), so a decision tuned on it can move."""
    from simmatch.training import train_cross_encoder
    from tests.training.test_training import CE, config, toy_pairs

    out = tmp_path_factory.mktemp("trained")
    return train_cross_encoder(
        tiny_cross3_dir, toy_pairs(16, "class3"), config=config(out, "m", **CE)
    ).output_dir


@pytest.fixture(scope="session")
def tiny_regression_dir(tmp_path_factory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-regression", None)


@pytest.fixture(scope="session")
def tiny_embedder(tiny_embedder_dir):
    from simmatch.models import Embedder

    return Embedder(str(tiny_embedder_dir), device="cpu")


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not DATA_ROOT.exists():
        pytest.skip(f"benchmark data not found at {DATA_ROOT}")
    return DATA_ROOT


@pytest.fixture(scope="session")
def builtin_e5():
    """The real built-in model (converted once into the user cache, or $SIMMATCH_CACHE)."""
    from simmatch.models import Embedder

    return Embedder("multilingual-e5-small", device="cpu")


# Training tests run torch on one thread: on a shared two-core machine, two OpenMP threads that
# spin while another process holds a core made a tiny model's steps 30x slower here.
ONE_THREAD_DIRS = ("losses", "training")


@pytest.fixture(autouse=True)
def one_torch_thread_for_training(request):
    if Path(str(request.node.path)).parent.name not in ONE_THREAD_DIRS:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
