"""jieba loads its dictionary once and quietly: no "Building prefix dict…" / "Loading model cost…"
lines (they printed twice under a configured root logger, as the CLI has), and jieba's own
logger is left as found."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import simmatch

SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.WARNING, format="simmatch: %(message)s", stream=sys.stderr)
from simmatch.index.tokenize import auto_tokens, jieba_tokens
print(jieba_tokens("我喜欢智能手机"), auto_tokens("今天天气怎么样"))
print(logging.getLogger("jieba").level)
"""


def test_jieba_loads_once_without_messages():
    src = str(Path(simmatch.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert done.stderr == ""
    tokens, level = done.stdout.splitlines()
    assert "'智能手机'" in tokens and "'天气'" in tokens
    assert level == "10"  # jieba's logger keeps its DEBUG level for the user's own use
