"""Where each parameter lives in the flat parameter vector that dense curvature matrices are indexed by.

A :class:`ParamLayout` lists a model's parameters in ``named_parameters()`` order, with their shapes and
offsets, so that a dict keyed like ``dict(model.named_parameters())`` and a flat vector of length ``P``
convert both ways. Parameters of one module are contiguous, which gives the layer blocks used by
block-diagonal curvature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["ParamLayout"]


@dataclass(frozen=True)
class ParamLayout:
    """Names, shapes and offsets of a model's parameters in the flat vector (``named_parameters()`` order).

    Attributes:
        names: parameter names, e.g. ``("0.weight", "0.bias", "2.weight_orig", ...)``.
        shapes: the shape of each parameter.
        offsets: the start of each parameter in the flat vector; parameter ``i`` occupies
            ``offsets[i] : offsets[i] + prod(shapes[i])``.
    """

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    offsets: tuple[int, ...]

    @classmethod
    def from_model(cls, model: nn.Module) -> ParamLayout:
        """The layout of ``model.named_parameters()``."""
        return cls.from_shapes({name: p.shape for name, p in model.named_parameters()})

    @classmethod
    def from_shapes(cls, shapes: Mapping[str, torch.Size | tuple[int, ...]]) -> ParamLayout:
        """A layout from an ordered mapping name -> shape."""
        offsets, total = [], 0
        for shape in shapes.values():
            offsets.append(total)
            total += math.prod(shape)
        return cls(tuple(shapes), tuple(torch.Size(s) for s in shapes.values()), tuple(offsets))

    @property
    def num_params(self) -> int:
        """``P``, the length of the flat vector."""
        if not self.names:
            return 0
        return self.offsets[-1] + math.prod(self.shapes[-1])

    def slice(self, name: str) -> slice:
        """The positions of parameter ``name`` in the flat vector."""
        try:
            i = self.names.index(name)
        except ValueError:
            raise KeyError(f"parameter name must be one of {list(self.names)}; got {name!r}") from None
        return slice(self.offsets[i], self.offsets[i] + math.prod(self.shapes[i]))

    @property
    def blocks(self) -> dict[str, slice]:
        """Contiguous layer blocks: module name (the parameter name's prefix) -> its slice of the flat vector.

        E.g. ``{"0": slice(0, 12), "2": slice(12, 15)}`` for ``Linear(3, 3) -> act -> Linear(3, 1)``. Used by
        layer-block-diagonal curvature (the cross-layer blocks set to zero).
        """
        out: dict[str, slice] = {}
        for name in self.names:
            prefix = name.rpartition(".")[0]
            piece = self.slice(name)
            if prefix in out:
                if out[prefix].stop != piece.start:
                    raise ValueError(f"parameters of module {prefix!r} are not contiguous in "
                                     "named_parameters() order; layer blocks need each module's parameters "
                                     "next to each other")
                out[prefix] = slice(out[prefix].start, piece.stop)
            else:
                out[prefix] = piece
        return out

    def flatten(self, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate a dict keyed like the layout into a flat vector.

        Args:
            tensors: name -> tensor of shape ``(*lead, *shape)``; every entry has the same leading dims
                ``lead`` (none for a plain parameter dict, ``(N,)`` for per-sample gradients).

        Returns:
            Tensor of shape ``(*lead, P)``.
        """
        missing = [n for n in self.names if n not in tensors]
        if missing:
            raise KeyError(f"tensors must have every layout key; missing {missing}")
        pieces = []
        for name, shape in zip(self.names, self.shapes, strict=True):
            t = tensors[name]
            lead = t.shape[: t.dim() - len(shape)]
            if t.shape[len(lead):] != shape:
                raise ValueError(f"tensor {name!r} must end with shape {tuple(shape)}; got {tuple(t.shape)}")
            pieces.append(t.reshape(*lead, -1))
        return torch.cat(pieces, dim=-1)

    def unflatten(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat vector ``(*lead, P)`` into a dict name -> tensor ``(*lead, *shape)`` (views)."""
        if vector.shape[-1] != self.num_params:
            raise ValueError(f"vector must have last dimension P={self.num_params}; got shape "
                             f"{tuple(vector.shape)}")
        lead = vector.shape[:-1]
        return {name: vector[..., self.slice(name)].reshape(*lead, *shape)
                for name, shape in zip(self.names, self.shapes, strict=True)}
