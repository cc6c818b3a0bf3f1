"""A reader for Qt binary resource bundles (``.rcc`` files).

GCompris ships its activity photos inside such bundles, and no Python package reads them, so this
module unpacks them from the published layout (everything big-endian):

- header: ``b"qres"``, then u32 version, tree offset, data offset, names offset, and from version 3
  a u32 flags word;
- tree: fixed-size nodes, 14 bytes in version 1 and 22 bytes from version 2 (an 8-byte
  last-modified time is appended). A node is ``u32 name_offset, u16 flags`` followed by either
  ``u32 child_count, u32 first_child_index`` (a directory, flag 2) or
  ``u16 country, u16 language, u32 data_offset`` (a file). Node 0 is the unnamed root, and a
  directory's children are the consecutive nodes starting at its first-child index;
- names: ``u16 length (UTF-16 code units), u32 hash, UTF-16-BE text``;
- data: ``u32 length`` then the bytes; with flag 1 the bytes are a ``u32`` uncompressed size
  followed by a zlib stream (flag 4 marks zstd, which Qt 6 can write; it is reported, not decoded).

Only the standard library is used, and the whole bundle is read into memory: GCompris bundles are
a few MB each.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAGIC = b"qres"
FLAG_COMPRESSED = 0x01
FLAG_DIRECTORY = 0x02
FLAG_COMPRESSED_ZSTD = 0x04


class RccError(ValueError):
    """The bytes are not a Qt resource bundle this reader understands."""


@dataclass(frozen=True)
class RccEntry:
    """One file inside a bundle: its path (POSIX, no leading slash) and where its data lives."""

    path: str
    flags: int
    data_offset: int  # absolute offset of the u32 length that precedes the (maybe compressed) bytes

    @property
    def compressed(self) -> bool:
        return bool(self.flags & (FLAG_COMPRESSED | FLAG_COMPRESSED_ZSTD))


class RccArchive:
    """A parsed bundle: list its files with :meth:`entries`, read one with :meth:`read`.

    >>> archive = RccArchive.open("erase.rcc")              # doctest: +SKIP
    >>> [e.path for e in archive.entries()][:2]             # doctest: +SKIP
    ['gcompris/src/activities/erase/Erase.qml', ...]
    """

    def __init__(self, blob: bytes) -> None:
        self._blob = blob
        if len(blob) < 20 or blob[:4] != MAGIC:
            raise RccError("not a Qt resource bundle (missing 'qres' magic)")
        self.version, self._tree, self._data, self._names = struct.unpack_from(">4I", blob, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"unsupported Qt resource bundle version {self.version}")
        self.flags = struct.unpack_from(">I", blob, 20)[0] if self.version >= 3 else 0
        self._node_size = 14 if self.version == 1 else 22

    @classmethod
    def open(cls, path: str | Path) -> RccArchive:
        return cls(Path(path).read_bytes())

    # -- the three sections -------------------------------------------------------------------
    def _node(self, index: int) -> tuple[int, int, int, int]:
        """(name_offset, flags, a, b): a, b = child count, first child for a directory, or
        (country << 16 | language), data offset for a file."""
        offset = self._tree + index * self._node_size
        if offset + 14 > len(self._blob):
            raise RccError(f"tree node {index} lies outside the file (truncated bundle?)")
        name_offset, flags, a, b = struct.unpack_from(">IHII", self._blob, offset)
        return name_offset, flags, a, b

    def _name(self, name_offset: int) -> str:
        offset = self._names + name_offset
        (length,) = struct.unpack_from(">H", self._blob, offset)
        start = offset + 2 + 4  # skip the length and the 4-byte hash
        raw = self._blob[start : start + 2 * length]
        if len(raw) != 2 * length:
            raise RccError(f"name at offset {name_offset} runs past the end of the file")
        return raw.decode("utf-16-be")

    # -- public API ---------------------------------------------------------------------------
    def entries(self) -> Iterator[RccEntry]:
        """Every file in the bundle, depth-first, with its full path."""
        stack: list[tuple[int, PurePosixPath]] = [(0, PurePosixPath())]
        seen: set[int] = set()
        while stack:
            index, parent = stack.pop()
            if index in seen:  # a cycle would mean a corrupt tree; don't loop forever
                raise RccError(f"tree node {index} is reachable twice (corrupt bundle)")
            seen.add(index)
            name_offset, flags, a, b = self._node(index)
            path = parent if index == 0 else parent / self._name(name_offset)
            if flags & FLAG_DIRECTORY:
                child_count, first_child = a, b
                # reversed so that popping the stack visits children in their stored order
                stack.extend((first_child + i, path) for i in reversed(range(child_count)))
            else:
                yield RccEntry(str(path), flags, self._data + b)

    def read(self, entry: RccEntry) -> bytes:
        """The file's bytes, decompressed."""
        (length,) = struct.unpack_from(">I", self._blob, entry.data_offset)
        start = entry.data_offset + 4
        payload = self._blob[start : start + length]
        if len(payload) != length:
            raise RccError(f"{entry.path}: data runs past the end of the file")
        if entry.flags & FLAG_COMPRESSED_ZSTD:
            raise RccError(f"{entry.path}: zstd-compressed resources are not supported")
        if entry.flags & FLAG_COMPRESSED:
            (expected,) = struct.unpack_from(">I", payload, 0)
            data = zlib.decompress(payload[4:])
            if len(data) != expected:
                raise RccError(f"{entry.path}: decompressed to {len(data)} bytes, expected {expected}")
            return data
        return payload


def extract_rcc(bundle: str | Path, out_dir: str | Path, *, keep: Callable[[str], bool] | None = None) -> list[Path]:
    """Write the bundle's files under ``out_dir`` (keeping their paths); ``keep(path) -> bool``
    selects which. Returns the written paths. Paths are sanitised so a crafted bundle cannot write
    outside ``out_dir``."""
    archive = RccArchive.open(bundle)
    out_root = Path(out_dir)
    written: list[Path] = []
    for entry in archive.entries():
        if keep is not None and not keep(entry.path):
            continue
        parts = [p for p in PurePosixPath(entry.path).parts if p not in ("", ".", "..", "/")]
        target = out_root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read(entry))
        written.append(target)
    return written
