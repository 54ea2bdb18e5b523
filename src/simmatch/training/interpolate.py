"""Weight-space interpolation between a base model and its fine-tuned copy (WiSE-FT).

Fine-tuning a twin tower on one data set (STS-B) can cost accuracy on others (LCQMC). Wortsman
et al., "Robust fine-tuning of zero-shot models" (CVPR 2022), showed that the linear mix
``(1 - alpha) * base + alpha * tuned`` of the two weight sets keeps most of the in-domain gain while
recovering the base model's out-of-domain accuracy; ``alpha`` is chosen on dev data. Neither
sentence-transformers nor transformers ships this, so it is written here (a state-dict lerp).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simmatch.errors import InputError


def interpolate_weights(
    base_model: str | Path,
    tuned_model: str | Path,
    alpha: float,
    output_dir: str | Path,
    *,
    device: str | None = "cpu",
) -> Path:
    """Write ``(1 - alpha) * base + alpha * tuned`` as a model directory that ``Embedder`` loads.

    ``alpha = 0`` is the base model, ``1`` the fine-tuned one. Both must have the same
    architecture (every parameter name and shape); the tuned model's configuration, tokenizer and
    prompts are kept. Integer buffers (position ids) are copied from the tuned model.
    """
    import torch

    from simmatch.training.embedder import load_sentence_transformer

    if not (isinstance(alpha, (int, float)) and 0.0 <= float(alpha) <= 1.0):
        raise InputError(f"alpha must be in [0, 1], got {alpha!r}")
    base: Any = load_sentence_transformer(base_model, device=device)
    tuned: Any = load_sentence_transformer(tuned_model, device=device)
    base_state, tuned_state = base.state_dict(), tuned.state_dict()
    if base_state.keys() != tuned_state.keys():
        only = sorted(set(base_state) ^ set(tuned_state))[:3]
        raise InputError(f"{base_model} and {tuned_model} differ in architecture (e.g. {only})")
    mixed = {}
    for name, value in tuned_state.items():
        other = base_state[name]
        if other.shape != value.shape:
            raise InputError(
                f"{name}: shape {tuple(other.shape)} in {base_model}, {tuple(value.shape)} in {tuned_model}"
            )
        mixed[name] = torch.lerp(other, value, float(alpha)) if value.is_floating_point() else value
    tuned.load_state_dict(mixed)
    out = Path(output_dir)
    tuned.save(str(out))
    return out
