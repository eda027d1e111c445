"""Checkpoints: a folder with `model.safetensors` (tensors only, never a pickle), `config.json` and,
for a classifier, its model card `README.md` (store/card.py), written in the same save.

config.json carries what rebuilds the model (method, classes, hyperparameters, normalisation), what
it was trained on and how well it did, the digitlab version, the training state a resume needs,
and a manifest of every tensor's shape and dtype. A model folder is untrusted: `load` reads at most
MAX_CONFIG_BYTES of JSON, checks every field against `schema`, reads the weights' shapes from the
safetensors header before loading them, and refuses NaN or infinite weights; anything wrong is one
ModelError naming the file and the field.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from safetensors.torch import save as to_bytes

from digitlab import __version__
from digitlab.errors import DigitlabError, ModelError, OutputError
from digitlab.store import card as model_card
from digitlab.store import schema, swap
from digitlab.store.files import cannot_write, through_link

WEIGHTS, CONFIG = "model.safetensors", "config.json"
FORMAT = "digitlab-checkpoint-1"
REQUIRED = ("method", "classes", "config")  # keys the caller's config must have
MAX_CONFIG_BYTES = 16 << 20  # a 100-epoch cnn's config.json is ~10 KB; more is not a digitlab checkpoint
MAX_ELEMENTS = 1 << 28  # numbers in all the tensors (1 GiB of float32); resnet18 has 11.2 million
DAMAGED = "the checkpoint is damaged or not digitlab's; train the model again"


def _manifest(tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    return {k: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
            for k, t in tensors.items()}


def save(directory: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict,
         card: model_card.Card | None = None) -> Path:
    """Write the checkpoint folder atomically: built under a temporary name, then renamed; with a
    `card`, its README.md (the model card of this config and those figures) is built in the same folder.

    An existing checkpoint at `directory` is replaced only once the new one is complete; a link to a
    folder is written through (the model goes into its target). A save a killed process left half
    done is put right first (swap.recover).
    """
    directory = through_link(Path(directory))
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"checkpoint config lacks {missing}")  # a bug in the caller, not the user
    tensors = {k: t.detach().to("cpu").contiguous() for k, t in tensors.items()}
    full = {"format": FORMAT, "digitlab_version": __version__, **config, "tensors": _manifest(tensors)}
    if directory.exists() and not directory.is_dir():  # never move a user's file aside for a model
        raise OutputError(f"{directory}: is a file, not a model folder; choose another place")
    recover(directory)
    tmp = swap.new_folder(directory)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        (tmp / WEIGHTS).write_bytes(to_bytes(tensors))  # a plain write: a full disk is an OSError with its errno
        if card is not None:  # before the config, which swap.recover's check reads as the end of a whole folder
            (tmp / model_card.README).write_text(model_card.text(full, card))
        (tmp / CONFIG).write_text(json.dumps(full, indent=2, default=str) + "\n")
        swap.swap_in(tmp, directory)
    except OSError as err:
        swap.remove(tmp)
        raise cannot_write(directory, err) from err
    except BaseException:  # Ctrl-C, SIGTERM: nothing half-built is left
        swap.remove(tmp)
        raise
    return directory


def recover(directory: str | os.PathLike) -> None:
    """Finish or roll back a save of `directory` that a killed process cut short (swap.recover)."""
    swap.recover(Path(directory), complete=_is_complete)


def _is_complete(folder: Path) -> bool:
    """Whether a folder a cut-short save left is a whole checkpoint: its config and weights' header
    check out (the weights are written first, the config second)."""
    try:
        _check_header(folder, _read_config(folder)["tensors"])
    except DigitlabError:
        return False
    return True


def read_config(directory: str | os.PathLike) -> dict:
    """A checkpoint folder's config.json, checked as `load` checks it (the weights are not read)."""
    directory = Path(directory)
    recover(directory)
    return _read_config(directory)


def _read_config(directory: Path) -> dict:
    path = directory / CONFIG
    if not path.is_file():
        raise ModelError(f"{directory}: no {CONFIG}; this is not a digitlab checkpoint (save one with "
                         "`digitlab train`)")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ModelError(f"{path}: {size:,} bytes, more than any digitlab config ({MAX_CONFIG_BYTES:,}); {DAMAGED}")
    try:
        config = json.loads(path.read_bytes(), parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:
        raise ModelError(f"{path}: not valid JSON ({err}); {DAMAGED}") from None
    except RecursionError:  # json's parser recurses once per level: [[[[... 100,000 deep
        raise ModelError(f"{path}: nested too deeply to be a digitlab config; {DAMAGED}") from None
    newer = _newer_than_this(config.get("digitlab_version") if isinstance(config, dict) else None)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        if newer:
            raise _saved_by_newer(path, newer)
        raise ModelError(f"{path}: not a digitlab checkpoint config (format is not {FORMAT!r})")
    try:
        schema.check_config(config)
    except schema.Invalid as err:
        if newer:  # a field or a value this digitlab does not know yet: not damage
            raise _saved_by_newer(path, newer) from None
        field = f"field {err.field} " if err.field else ""
        raise ModelError(f"{path}: {field}{err.why}; {DAMAGED}") from None
    return config


def _newer_than_this(version) -> str | None:
    """`version` (a config's digitlab_version) when it is a later release than this digitlab's, else None."""
    def parts(text: str) -> tuple[int, ...] | None:
        numbers = text.split("+")[0].split(".")
        return tuple(int(n) for n in numbers) if all(n.isdigit() for n in numbers) else None

    mine, theirs = parts(__version__), parts(version) if isinstance(version, str) else None
    return version if mine and theirs and theirs > mine else None


def _saved_by_newer(path: Path, version: str) -> ModelError:
    return ModelError(f"{path}: saved by digitlab {version}, newer than this one ({__version__}), in a form "
                      "this one cannot read; upgrade digitlab (pip install -U digitlab) to use it")


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _check_header(directory: Path, manifest: dict) -> None:
    """The weights file's tensor names and shapes, read from its header (nothing loaded yet),
    against config.json's manifest; and their total size against MAX_ELEMENTS."""
    path = directory / WEIGHTS
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {name: f.get_slice(name).get_shape() for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"{path}: not a safetensors file ({err}); digitlab loads only safetensors, "
                         "never pickles: save the model again with digitlab") from None
    missing, extra = sorted(set(manifest) - set(shapes)), sorted(set(shapes) - set(manifest))
    if missing or extra:
        raise ModelError(f"{path}: tensors do not match {CONFIG} (missing: "
                         f"{', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'}); "
                         "the checkpoint is damaged or mixed up, train it again")
    total = sum(math.prod(shape) for shape in shapes.values())
    if total > MAX_ELEMENTS:
        raise ModelError(f"{path}: {total:,} numbers in all, more than any digitlab model ({MAX_ELEMENTS:,}); {DAMAGED}")
    for name, shape in shapes.items():
        if list(shape) != manifest[name]["shape"]:
            raise ModelError(f"{path}: tensor {name!r} is {tuple(shape)}, but {CONFIG} says "
                             f"{tuple(manifest[name]['shape'])}; the checkpoint is damaged, train it again")


def _read_tensors(directory: Path) -> dict[str, torch.Tensor]:
    path = directory / WEIGHTS
    if not path.is_file():
        others = sorted(p.name for p in directory.glob("*.pt*")) + sorted(p.name for p in directory.glob("*.bin"))
        hint = f" (found {', '.join(others)}: digitlab never loads pickled weights)" if others else ""
        raise ModelError(f"{directory}: no {WEIGHTS}{hint}; train and save the model with digitlab")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"{path}: not a safetensors file ({err}); digitlab loads only safetensors, "
                         "never pickles: save the model again with digitlab") from None


def load(directory: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, config) of a checkpoint folder, after checking every tensor against the manifest."""
    directory = Path(directory)
    recover(directory)
    if not directory.is_dir():
        raise ModelError(f"{directory}: no such checkpoint folder; check the path (or train one first)")
    config = _read_config(directory)
    if not (directory / WEIGHTS).is_file():
        _read_tensors(directory)  # says what is there instead
    manifest = config["tensors"]
    _check_header(directory, manifest)
    tensors = _read_tensors(directory)
    for name, spec in manifest.items():
        t = tensors[name]
        if str(t.dtype).removeprefix("torch.") != spec["dtype"]:
            raise ModelError(f"{directory / WEIGHTS}: tensor {name!r} is {tuple(t.shape)} "
                             f"{t.dtype}, but {CONFIG} says {tuple(spec['shape'])} "
                             f"{spec['dtype']}; the checkpoint is damaged, train it again")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ModelError(f"{directory / WEIGHTS}: tensor {name!r} holds NaN or infinite numbers; "
                             "the model diverged or the file is damaged: train it again (with a lower --lr)")
    return tensors, config
