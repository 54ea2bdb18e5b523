"""A command-line argument that is not UTF-8 (Python keeps the byte 0xFF as the lone surrogate
U+DCFF) is a one-line error naming the item, exit 2, no traceback; zero-width-only text is empty."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _simmatch(*argv: str | bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "simmatch.cli.main", *argv], capture_output=True, timeout=120
    )


BAD = "contains an unpaired surrogate (U+DCFF): not valid Unicode text"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["embed", "ok", b"\xff"], f"texts[1] {BAD}"),
        (["similarity", "a", b"b\xff"], f"pairs[0][1] {BAD}"),
        (["rank", b"\xffq", "a", "b"], f"query {BAD}"),
        (["embed", "\u200b\u200d\ufeff"], "texts[0] is empty or whitespace only"),
    ],
)  # fmt: skip
def test_bad_text_arguments_are_one_line_errors(tiny_embedder_dir, argv, message):
    proc = _simmatch(*argv, "--model", str(tiny_embedder_dir))
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode("utf-8") == f"simmatch: error: {message}\n"
