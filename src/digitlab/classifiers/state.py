"""A training state (an optimiser's, nested dicts and lists holding tensors) split into JSON for
config.json and tensors for the safetensors file, and joined back: no pickles in a checkpoint.
"""

from __future__ import annotations

import torch


def split_state(obj, prefix: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Split nested dicts/lists holding tensors into (JSON-able tree, {key: tensor}).

    Dicts become {"dict": [[key, value], ...]} so that integer keys (as in torch optimisers' state)
    come back as integers.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(o, path):
        if isinstance(o, torch.Tensor):
            tensors[path] = o
            return {"tensor": path}
        if isinstance(o, dict):
            return {"dict": [[k, walk(v, f"{path}.{k}")] for k, v in o.items()]}
        if isinstance(o, (list, tuple)):
            return {"list": [walk(v, f"{path}.{i}") for i, v in enumerate(o)]}
        return {"value": o}

    return walk(obj, prefix), tensors


def join_state(tree, tensors: dict[str, torch.Tensor]):
    if "tensor" in tree:
        return tensors[tree["tensor"]]
    if "dict" in tree:
        return {k: join_state(v, tensors) for k, v in tree["dict"]}
    if "list" in tree:
        return [join_state(v, tensors) for v in tree["list"]]
    return tree["value"]


