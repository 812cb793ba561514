"""Where dataset files live, and getting them there: data roots, sha256 checks, downloads, clear errors.

The bytes live outside the package, in ``<data root>/<folder>/<file>``; :func:`data_roots` says where roots
are sought. A missing file is downloaded by :func:`pooch.retrieve` against its known sha256 into the first
writable root (the per-user cache folder by :mod:`platformdirs` last); offline, the error says in three lines
what is missing, where it looked and how to provide it. A present file whose sha256 differs is never used.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import platformdirs

from .._validation import no_new_empty_folders, output_folder
from .spec import DatasetError, DatasetSpec, FileSpec

__all__ = ["DOWNLOAD_TIMEOUT", "ENV_VAR", "data_roots", "file_sha256", "folder_for", "locate"]

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 10.0
"""Seconds to wait on each download connection before trying the next URL."""

ENV_VAR = "PRUNEBENCH_DATA"
"""Environment variable naming a data root (searched after the ``root`` argument)."""


def _find_checkout(start: Path) -> Path | None:
    """The nearest ancestor of ``start`` that is a prunebench checkout: it has ``datasets/`` and a
    ``pyproject.toml`` naming the project ``prunebench`` (so another project's checkout is never taken)."""
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if (folder / "datasets").is_dir() and pyproject.is_file():
            try:
                if 'name = "prunebench"' in pyproject.read_text(encoding="utf-8"):
                    return folder
            except OSError:
                continue
    return None


def data_roots(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The data roots, in the order they are searched; a dataset's files are in ``<root>/<folder>/``.

    1. ``root``, when given;
    2. the ``PRUNEBENCH_DATA`` environment variable, when set and not empty;
    3. ``<checkout>/datasets`` when this package runs from a prunebench checkout;
    4. the per-user cache folder (:func:`platformdirs.user_cache_path`; on Linux ``$XDG_CACHE_HOME/prunebench``,
       else ``~/.cache/prunebench``).
    """
    if root is not None and not isinstance(root, str | os.PathLike):
        raise TypeError(f"root must be a path (str or os.PathLike) or None; got {type(root).__name__}")
    candidates: list[Path] = []
    if root is not None:
        candidates.append(Path(root).expanduser())
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]).expanduser())
    checkout = _find_checkout(Path(__file__).resolve().parent)
    if checkout is not None:
        candidates.append(checkout / "datasets")
    candidates.append(platformdirs.user_cache_path("prunebench"))
    unique: list[Path] = []
    for c in candidates:
        if c.absolute() not in unique:
            unique.append(c.absolute())
    return unique


def file_sha256(path: Path) -> str:
    """The hex sha256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def locate(spec: DatasetSpec, roots: list[Path]) -> Path | None:
    """The first folder ``<root>/<spec.folder>`` that holds every file of the dataset."""
    for root in roots:
        folder = root / spec.folder
        if all((folder / f.name).is_file() for f in spec.files):
            return folder
    return None


def _corrupt_message(spec: DatasetSpec, path: Path, expected: FileSpec, digest: str) -> str:
    return (f"dataset {spec.name!r}: file {path} does not match its sha256 (expected {expected.sha256}, got "
            f"{digest}; expected {expected.size} bytes, got {path.stat().st_size}); it was not used. "
            f"Delete it (the next run downloads it again), or replace it with the original from "
            f"{expected.urls[0]}")


def _verify(spec: DatasetSpec, folder: Path) -> None:
    for f in spec.files:
        path = folder / f.name
        digest = file_sha256(path)
        if digest != f.sha256:
            raise DatasetError(_corrupt_message(spec, path, f, digest))


def _missing_message(spec: DatasetSpec, roots: list[Path], reason: str) -> str:
    """Three lines: what is missing and where it looked; why it was not downloaded; how to provide it."""
    names = ", ".join(f.name for f in spec.files)
    looked = ", ".join(str(root / spec.folder) for root in roots)
    by_hand = "; ".join(f"{f.urls[0]} (sha256 {f.sha256})" for f in spec.files)
    return (f"dataset {spec.name!r} not found: {names} must be in a folder {spec.folder!r} under a data root; "
            f"looked in {looked}\n{reason}\n"
            f"To fix: set {ENV_VAR} (or pass --root PATH, root=PATH to load()) to a folder holding "
            f"{spec.folder}/, or download by hand into <root>/{spec.folder}/: {by_hand}")


# ----------------------------------------------------------------------------------------------- download


def _writable_folder(roots: list[Path], folder: str) -> Path | None:
    """The first ``<root>/<folder>`` that exists as a writable folder or could be made (nothing is made)."""
    for root in roots:
        target = root / folder
        try:
            output_folder(target)
        except ValueError:
            continue
        return target
    return None


def _fetch(expected: FileSpec) -> Callable[[str, str, Any], None]:
    """A pooch downloader: stream ``url`` into pooch's temporary file with :data:`DOWNLOAD_TIMEOUT`, stopping at
    more than the expected size (a wrong or hostile server cannot fill the disk)."""
    from prunebench import __version__

    def fetch(url: str, output_file: str, pooch: Any) -> None:
        size = 0
        request = Request(url, headers={"User-Agent": f"prunebench/{__version__}"})
        with open(output_file, "wb") as out, urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
            while chunk := response.read(1 << 20):
                size += len(chunk)
                if size > expected.size:
                    raise DatasetError(f"more than the expected {expected.size} bytes")
                out.write(chunk)

    return fetch


def _download_one(url: str, expected: FileSpec, dest: Path) -> None:
    """Fetch ``url`` to ``dest`` through :func:`pooch.retrieve`: into a temporary file beside ``dest``, renamed to
    ``dest`` only if its sha256 is the known one (otherwise deleted)."""
    import pooch

    try:
        pooch.retrieve(url, known_hash=f"sha256:{expected.sha256}", fname=dest.name, path=dest.parent,
                       downloader=_fetch(expected), progressbar=False)
    except DatasetError:
        raise
    except ValueError as exc:  # pooch's hash mismatch (it deleted the file)
        got = re.search(r"got ([0-9a-f]{64})", str(exc))
        raise DatasetError(f"sha256 mismatch (expected {expected.sha256}, got {got[1] if got else '?'}); "
                           "discarded") from None


def _download(spec: DatasetSpec, roots: list[Path]) -> Path:
    """Download the dataset's missing files into the first writable root; the folder, or DatasetError."""
    target = _writable_folder(roots, spec.folder)
    if target is None:
        raise DatasetError(_missing_message(spec, roots, "No data root is writable: nothing was downloaded."))
    failures = []
    with no_new_empty_folders(target):
        target.mkdir(parents=True, exist_ok=True)
        for f in spec.files:
            dest = target / f.name
            if dest.is_file():
                continue
            errors = []
            for url in f.urls:
                log.info("downloading %s from %s", f.name, url)
                try:
                    _download_one(url, f, dest)
                    break
                except (OSError, http.client.HTTPException, DatasetError, ValueError) as exc:
                    errors.append(f"{url}: {' '.join(str(exc).split())}")
            else:
                failures += errors
        if failures:
            reason = f"Downloading into {target} failed (offline?): " + "; ".join(failures)
            raise DatasetError(_missing_message(spec, roots, reason))
    return target


# ------------------------------------------------------------------------------------------------ a dataset


def folder_for(spec: DatasetSpec, root: str | os.PathLike[str] | None, download: bool) -> Path:
    """The verified folder of ``spec`` under :func:`data_roots`, downloading it when missing and ``download``."""
    roots = data_roots(root)
    folder = locate(spec, roots)
    if folder is None:
        if not download:
            raise DatasetError(_missing_message(spec, roots, "Downloading was disabled (download=False)."))
        folder = _download(spec, roots)
    _verify(spec, folder)
    return folder
