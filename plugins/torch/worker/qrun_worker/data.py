"""Tokenized data sets as hf.load writes them (datasets/<name>.json: ids per sample, labels as the
data wrote them, the pad id), batched the way qrun's ONNX steps batch them. Labels are not read
here: the step maps them to class indices (src/data/labels.ts) and passes them in `labels`."""
from __future__ import annotations

import json
import os
from typing import Any

from .protocol import WorkerError


def read_dataset(datasets_dir: str, name: str) -> dict[str, Any]:
    path = os.path.join(datasets_dir, f"{name}.json")
    if not os.path.exists(path):
        have = sorted(f[:-5] for f in os.listdir(datasets_dir) if f.endswith(".json")) if os.path.isdir(datasets_dir) else []
        raise WorkerError(
            "DATA_MISSING",
            f'data set "{name}" was not loaded (loaded: {", ".join(have) or "none"})',
            f"add it under `data:` in the recipe (e.g. {name}: ../data/langid/{name}.jsonl) so hf.load tokenizes it",
        )
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not data.get("samples"):
        raise WorkerError("DATA_EMPTY", f'data set "{name}" has no samples')
    return data


def batches_by_length(lengths: list[int], max_batch: int) -> list[list[int]]:
    """Groups indices into batches of equal length (no padding), like src/runtime/feeds.ts."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    current_len = -1
    for i in order:
        if lengths[i] != current_len or len(current) >= max_batch:
            if current:
                batches.append(current)
            current, current_len = [], lengths[i]
        current.append(i)
    if current:
        batches.append(current)
    return batches


def encoder_inputs(rows: list[list[int]], pad_id: int, device: Any) -> dict[str, Any]:
    """input_ids, attention_mask, token_type_ids for rows of ids, right-padded with pad_id."""
    import torch

    seq = max(len(r) for r in rows)
    ids = torch.full((len(rows), seq), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), seq), dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[k, : len(r)] = 1
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "token_type_ids": torch.zeros_like(ids).to(device),
    }
