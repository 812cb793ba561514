"""The method registry: a name maps to a :class:`~prunebench.methods.base.PruningMethod` subclass.

Registering a second class under a taken name raises unless ``overwrite=True`` is passed. Third-party methods
arrive through the entry-point group ``prunebench.methods``: a distribution that declares, in its
``pyproject.toml``::

    [project.entry-points."prunebench.methods"]
    snip = "their_package.snip:Snip"

is registered under ``snip`` the first time the registry is queried, without editing this repository. A
plug-in whose entry point fails to import (or is not a method class, or takes a name already registered) is
skipped with a warning that names it; the others still load.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import warnings
from typing import Any

from .base import CURVATURE_FORMS, PruningMethod

__all__ = ["ENTRY_POINT_GROUP", "available", "describe", "get", "get_class", "load_plugins", "plain_text",
           "register"]

ENTRY_POINT_GROUP = "prunebench.methods"

_METHODS: dict[str, type[PruningMethod]] = {}
_PLUGINS_LOADED = False


def _validate(name: str, cls: Any) -> None:
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"method name must be a non-empty string without surrounding spaces; got {name!r}")
    if not (inspect.isclass(cls) and issubclass(cls, PruningMethod)):
        raise TypeError(f"method {name!r} must be a subclass of prunebench.methods.PruningMethod; "
                        f"got {cls!r}")
    if cls.curvature not in CURVATURE_FORMS:
        raise ValueError(f"method {name!r}: curvature must be one of {list(CURVATURE_FORMS)}; "
                         f"got {cls.curvature!r}")
    if not isinstance(cls.moves_weights, bool):
        raise TypeError(f"method {name!r}: moves_weights must be a bool; got {cls.moves_weights!r}")
    if not isinstance(cls.citation, str) or not cls.citation.strip():
        raise ValueError(f"method {name!r}: citation must be a non-empty string naming the work it "
                         f"implements; got {cls.citation!r}")
    if cls.saliency is PruningMethod.saliency:
        raise TypeError(f"method {name!r}: {cls.__name__} must implement saliency(model, loss_fn, inputs, "
                        "targets, *, mask)")


def register(name: str, cls: type[PruningMethod], overwrite: bool = False) -> type[PruningMethod]:
    """Map ``name`` to the method class ``cls`` (returned, so this also works as ``register("x", Cls)``
    inline).

    Raises ValueError when ``name`` is taken by another class, unless ``overwrite=True``.
    """
    _validate(name, cls)
    if name in _METHODS and _METHODS[name] is not cls and not overwrite:
        raise ValueError(f"a pruning method named {name!r} is already registered "
                         f"({_qualname(_METHODS[name])}); pass overwrite=True to replace it with "
                         f"{_qualname(cls)}, or choose another name")
    _METHODS[name] = cls
    return cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_plugins(*, force: bool = False) -> list[str]:
    """Register the methods of every installed entry point in group ``prunebench.methods`` (once per process
    unless ``force``). Returns the names registered now; failures are skipped with a warning naming them."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED and not force:
        return []
    _PLUGINS_LOADED = True
    loaded = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            register(ep.name, ep.load())
        except Exception as exc:  # a broken plug-in must not take the others down
            warnings.warn(f"prunebench: skipped plug-in method {ep.name!r} ({ep.value}) from entry-point "
                          f"group {ENTRY_POINT_GROUP!r}: {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)
            continue
        loaded.append(ep.name)
    return loaded


def available() -> list[str]:
    """Names of every registered method, built-in and plug-in, sorted."""
    load_plugins()
    return sorted(_METHODS)


def get_class(name: str) -> type[PruningMethod]:
    """The class registered under ``name``."""
    load_plugins()
    if name not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}; got {name!r}. Run `prunebench "
                         "methods` to list them, or install the plug-in that provides it")
    return _METHODS[name]


def get(name: str, **params: Any) -> PruningMethod:
    """An instance of the method ``name`` built with ``params`` (its constructor's keyword arguments)."""
    cls = get_class(name)
    try:
        instance = cls(**params)
    except TypeError as exc:
        accepted = [k for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"
                    and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        message = f"method {name!r} takes parameters {accepted}; got {sorted(params)} ({exc})"
        raise TypeError(message) from None
    instance.registered_name = name  # errors name the method as the user knows it
    return instance


def describe(name: str) -> dict[str, Any]:
    """Flags, citation, default parameters and one-line summary of the method ``name`` (for listings)."""
    cls = get_class(name)
    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items()
                if k != "self" and p.default is not inspect.Parameter.empty}
    doc = inspect.getdoc(cls) or ""
    return {"name": name, "class": _qualname(cls), "curvature": cls.curvature,
            "moves_weights": cls.moves_weights, "citation": cls.citation, "defaults": defaults,
            "summary": plain_text(doc.splitlines()[0]) if doc else ""}


_RST_ROLE = re.compile(r":[\w:.-]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_RST_LITERAL = re.compile(r"``(.+?)``|`([^`]+)`")


def plain_text(text: str) -> str:
    """``text`` without reStructuredText markup: roles (``:func:`x``` -> ``x``), literals and interpreted text
    (````x```` and ```x``` -> ``x``)."""
    text = _RST_ROLE.sub(r"\1", text)
    return _RST_LITERAL.sub(lambda m: m.group(1) or m.group(2), text)
