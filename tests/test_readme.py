"""Every snippet in the README runs (slow: uses the built-in model)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
pytestmark = pytest.mark.slow


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_python_snippets_run(tiny_cross3_dir, capsys):
    blocks = _blocks("python")
    assert len(blocks) >= 2
    for code in blocks:
        # The cross-encoder snippet names a placeholder directory: run it on a fixture model.
        code = code.replace("path/to/trained-cross-encoder", str(tiny_cross3_dir))
        exec(compile(code, "README.md", "exec"), {})
    assert "(2, 384)" in capsys.readouterr().out


def test_cli_snippets_run():
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cli_block = next(b for b in _blocks("bash") if b.lstrip().startswith("simmatch models"))
    try:
        for line in cli_block.splitlines():
            command = line.split("  #")[0].strip()
            if not command:
                continue
            proc = subprocess.run(
                command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
            )
            assert proc.returncode == 0, f"{command}\n{proc.stderr}"
            assert proc.stdout.strip() or "wrote" in proc.stderr, command
    finally:
        # `embed --out vectors.npy` writes into the project root: never leave it there.
        (ROOT / "vectors.npy").unlink(missing_ok=True)


def test_scale_out_lines_are_real_commands():
    """The README's three lines on running the job on an existing Ray cluster and Milvus name
    commands and flags the CLI accepts (tests/index/test_milvus_server.py runs them on a URI)."""
    import shlex

    from simmatch.cli.main import build_parser

    start = README.index("On an existing Ray cluster and Milvus server")
    paragraph = README[start : README.index("\n\n", start)]
    assert len(paragraph.splitlines()) == 3
    commands = [span for span in re.findall(r"`([^`]+)`", paragraph) if span.startswith("simmatch ")]
    assert len(commands) == 3
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.path == "milvus://host:19530#docs"
    assert args.index_command == "search" and args.query == "北京天气"
