"""Checkpoints: a folder with `model.safetensors` (tensors only, never a pickle) and `config.json`.

config.json carries what rebuilds the model (method, classes, hyperparameters, normalisation), what
it was trained on and how well it did, the digitlab version, the training state a resume needs,
and a manifest of every tensor's shape and dtype. `load` checks the folder against that manifest
and refuses anything else with a ModelError that says what is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from digitlab import __version__
from digitlab.errors import ModelError, OutputError
from digitlab.files import cannot_write, default_mode

WEIGHTS, CONFIG = "model.safetensors", "config.json"
FORMAT = "digitlab-checkpoint-1"
REQUIRED = ("method", "classes", "config")  # keys the caller's config must have


def _manifest(tensors: dict[str, torch.Tensor]) -> dict[str, dict]:
    return {k: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
            for k, t in tensors.items()}


def save(directory: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict) -> Path:
    """Write the checkpoint folder atomically: built under a temporary name, then renamed.

    An existing checkpoint at `directory` is replaced only once the new one is complete.
    """
    directory = Path(directory)
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"checkpoint config lacks {missing}")  # a bug in the caller, not the user
    tensors = {k: t.detach().to("cpu").contiguous() for k, t in tensors.items()}
    full = {"format": FORMAT, "digitlab_version": __version__, **config, "tensors": _manifest(tensors)}
    if directory.exists() and not directory.is_dir():  # never move a user's file aside for a model
        raise OutputError(f"{directory}: is a file, not a model folder; choose another place")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    except OSError as err:
        raise cannot_write(directory, err) from err
    try:
        save_file(tensors, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(full, indent=2, default=str) + "\n")
        for path, mode in ((tmp, default_mode(folder=True)), (tmp / WEIGHTS, default_mode()),
                           (tmp / CONFIG, default_mode())):
            path.chmod(mode)  # mkdtemp's 0700 would keep the model from anyone but its writer
        _swap_in(tmp, directory)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise cannot_write(directory, err) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _swap_in(new: Path, directory: Path) -> None:
    """Put the complete folder `new` at `directory`, never leaving `directory` missing.

    A folder cannot replace a folder in one rename, so the old one steps aside first; if anything
    (Ctrl-C included) stops the second rename, the old one goes back.
    """
    old = None
    try:
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            os.replace(directory, old)
        os.replace(new, directory)
    except BaseException:
        if old is not None and not directory.exists():
            os.replace(old, directory)
        shutil.rmtree(new, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _read_config(directory: Path) -> dict:
    path = directory / CONFIG
    if not path.is_file():
        raise ModelError(f"{directory}: no {CONFIG}; this is not a digitlab checkpoint (save one with "
                         "`digitlab train`)")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(f"{path}: not valid JSON ({err}); the checkpoint is damaged, train it again") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: not a digitlab checkpoint config (format is not {FORMAT!r})")
    absent = [k for k in (*REQUIRED, "tensors") if k not in config]
    if absent or not isinstance(config["tensors"], dict):
        raise ModelError(f"{path}: missing {', '.join(absent) or 'tensors'}; the checkpoint is "
                         "damaged, train it again")
    return config


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
    if not directory.is_dir():
        raise ModelError(f"{directory}: no such checkpoint folder; check the path (or train one first)")
    config = _read_config(directory)
    tensors = _read_tensors(directory)
    manifest = config["tensors"]
    missing, extra = sorted(set(manifest) - set(tensors)), sorted(set(tensors) - set(manifest))
    if missing or extra:
        raise ModelError(f"{directory / WEIGHTS}: tensors do not match {CONFIG} (missing: "
                         f"{', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'}); "
                         "the checkpoint is damaged or mixed up, train it again")
    for name, spec in manifest.items():
        t = tensors[name]
        if list(t.shape) != list(spec.get("shape", [])) or str(t.dtype).removeprefix("torch.") != spec.get("dtype"):
            raise ModelError(f"{directory / WEIGHTS}: tensor {name!r} is {tuple(t.shape)} "
                             f"{t.dtype}, but {CONFIG} says {tuple(spec.get('shape', []))} "
                             f"{spec.get('dtype')}; the checkpoint is damaged, train it again")
    return tensors, config
