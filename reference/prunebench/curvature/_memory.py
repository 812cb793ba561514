"""Memory checks before allocating an inverse: the size needed, the memory free, and what to change."""

from __future__ import annotations

import psutil
import torch

from .layout import ParamLayout

__all__ = ["available_bytes", "describe", "dtype_name", "ensure", "gigabytes", "itemsize", "remedy"]


def itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def gigabytes(nbytes: float) -> str:
    return f"{nbytes / 1e9:.2f} GB"


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device``: ``psutil`` for the CPU, ``torch.cuda.mem_get_info`` for a GPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


def ensure(needed: int, device: torch.device, what: str, remedy: str = "") -> None:
    available = available_bytes(device)
    if needed > available:
        raise MemoryError(f"inverse_hessian needs about {gigabytes(needed)} for {what}, but only "
                          f"{gigabytes(available)} is available on {device}.{remedy}")


def describe(layout: ParamLayout, slices: list[slice], dtype: torch.dtype, copies: int) -> str:
    P = layout.num_params
    kind = f"a {P} x {P}" if len(slices) == 1 else f"{len(slices)} diagonal blocks of the {P} x {P}"
    extra = " (twice: on_indefinite='damp' keeps a copy to retry)" if copies == 2 else ""
    return f"P={P:,} parameters: {kind} {dtype_name(dtype)} matrix{extra} plus workspace"


def remedy(layout: ParamLayout, dtype: torch.dtype) -> str:
    size = itemsize(dtype)
    block = sum((s.stop - s.start) ** 2 for s in layout.blocks.values()) * size
    options = [f"blocks='module' (layer-block-diagonal: {gigabytes(block)})"]
    if size > 4:
        options.append(f"dtype=torch.float32 ({gigabytes(layout.num_params ** 2 * 4)}; see the precision note in "
                       "prunebench.curvature.inverse)")
    return " Use " + " or ".join(options) + "."
