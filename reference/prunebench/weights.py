"""A user's trained weights, read into a paper architecture safely, and pruned weights written back.

Formats, chosen by the file's suffix, none of which runs code while loading:

- ``.npz``: a NumPy archive of arrays (``numpy.load(..., allow_pickle=False)``);
- ``.safetensors``: the safetensors format (``safetensors.numpy.load_file``);
- ``.pt``, ``.pth``, ``.bin``: a PyTorch ``state_dict`` (a dict of tensors), loaded with
  ``torch.load(..., weights_only=True)``; a full pickle (a module object, an optimizer, arbitrary classes) is
  refused with the remedy, never executed.

Names: the keys must be the architecture's parameter names (``dict(model.named_parameters())``, e.g.
``0.weight``) or, for a multilayer perceptron, the common ``fc1.weight``, ``fc1.bias``, ``fc2.weight``, ...
naming of its Linear layers in order (WoodFisher's ``MlpNet`` uses it). Every parameter must be present with its
exact shape, no other key is allowed, and every value must be finite: any mismatch is one ``ValueError`` saying
what was expected, what was found and how to fix it.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["FORMATS", "file_sha256", "linear_aliases", "load_weights", "save_weights"]

FORMATS = (".npz", ".safetensors", ".pt", ".pth", ".bin")
"""File suffixes :func:`load_weights` reads."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def linear_aliases(model: nn.Module) -> dict[str, str]:
    """``fc<i>.weight`` / ``fc<i>.bias`` (i = 1, 2, ... over the Linear layers in order) -> the model's own
    parameter name; empty when the model has any parameter outside a Linear layer."""
    out: dict[str, str] = {}
    owned = 0
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    for i, (prefix, module) in enumerate(linears, start=1):
        for leaf, _ in module.named_parameters(recurse=False):
            out[f"fc{i}.{leaf.removesuffix('_orig')}"] = f"{prefix}.{leaf.removesuffix('_orig')}"
            owned += 1
    return out if owned == sum(1 for _ in model.parameters()) else {}


def _read(path: Path) -> dict[str, np.ndarray]:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: np.asarray(archive[key]) for key in archive.files}
        except ValueError as exc:  # an object array needs pickle
            raise ValueError(f"weights file {path} holds pickled data, which is never loaded (numpy: "
                             f"{str(exc).split('. ')[0]}); save plain numeric arrays with numpy.savez") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"weights file {path} is not a readable .npz archive ({exc}); write it with "
                             "numpy.savez") from None
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ValueError(f"weights file {path} is not a readable .safetensors file ({exc}); write it with "
                             "safetensors.torch.save_file or safetensors.numpy.save_file") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ... for unsafe or corrupt files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0][:120]
        raise ValueError(f"weights file {path} cannot be loaded with torch.load(weights_only=True) ({reason}); "
                         "a full pickle is never executed: save the model's state_dict() (tensors only) with "
                         "torch.save, or use .npz / .safetensors") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights file {path} must hold a state_dict (a dict of tensors); got "
                         f"{type(state).__name__}. Save model.state_dict() with torch.save")
    return {str(k): v.detach().cpu().numpy() for k, v in state.items()}


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> dict[str, str]:
    """Copy the weights stored at ``path`` into ``model`` (in place, in the model's dtype), after checking
    names, shapes and finiteness. Returns the file's key for each of the model's parameter names (to write the
    pruned weights under the same names). Raises ``ValueError`` (one line) on any mismatch and
    ``FileNotFoundError`` when the file is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}; give the path of a {'/'.join(FORMATS)} file")
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"weights file must end in one of {list(FORMATS)}; got {path.name!r}. Pickles "
                         "(.pkl, .ckpt) are not read: save the tensors with numpy.savez, safetensors or "
                         "torch.save(model.state_dict())")
    arrays = _read(path)
    params = {name.removesuffix("_orig"): p for name, p in model.named_parameters()}
    own = set(params)
    aliases = linear_aliases(model)
    if set(arrays) == own:
        mapping = {name: name for name in own}
    elif aliases and set(arrays) == set(aliases):
        mapping = {ours: theirs for theirs, ours in aliases.items()}
    else:
        names = set(arrays)
        best = own if len(names & own) >= len(names & set(aliases)) else set(aliases)
        unknown, missing = sorted(names - best), sorted(best - names)
        raise ValueError(f"weights file {path.name} does not match {getattr(model, 'arch', type(model).__name__)}: "
                         f"expected keys {sorted(best)}; unknown keys {unknown}, missing keys {missing}. "
                         "Rename the arrays to the expected keys")
    for ours, theirs in sorted(mapping.items()):
        value = arrays[theirs]
        if tuple(value.shape) != tuple(params[ours].shape):
            raise ValueError(f"weights file {path.name}: {theirs!r} must have shape {tuple(params[ours].shape)}; "
                             f"got {tuple(value.shape)}. Check that the file is for this architecture")
        if not np.issubdtype(value.dtype, np.floating) and not np.issubdtype(value.dtype, np.integer):
            raise ValueError(f"weights file {path.name}: {theirs!r} must be a numeric array; got dtype "
                             f"{value.dtype}")
        bad = int(np.size(value) - np.isfinite(value).sum())
        if bad:
            raise ValueError(f"weights file {path.name}: {theirs!r} must be finite; got {bad} NaN or infinite "
                             "entries. Fix the training run that produced it")
    modules = dict(model.named_modules())
    with torch.no_grad():
        for ours, theirs in mapping.items():
            prefix, _, leaf = ours.rpartition(".")
            target = getattr(modules[prefix], leaf + "_orig", None)
            target = params[ours] if target is None else target
            target.copy_(torch.from_numpy(np.array(arrays[theirs])).to(target.dtype))
    return mapping


def save_weights(model: nn.Module, path: str | os.PathLike[str], names: dict[str, str] | None = None) -> Path:
    """Write the effective (masked) weights of ``model`` to ``path`` as ``.npz`` atomically, each under
    ``names[name]`` (default: the model's own parameter names, without ``_orig``)."""
    from .models import effective_params

    path = Path(path)
    arrays = {}
    for name, tensor in effective_params(model).items():
        key = name.removesuffix("_orig")
        arrays[(names or {}).get(key, key)] = tensor.detach().cpu().numpy()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path
