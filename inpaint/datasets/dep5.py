"""Which license a file has, according to a Debian machine-readable copyright file (DEP-5).

A DEP-5 file (``usr/share/doc/<package>/copyright``) is a series of paragraphs of ``Field: value``
lines, continuation lines starting with whitespace. ``Files:`` paragraphs list glob patterns
relative to the upstream source tree (``*`` matches any characters including ``/``, ``?`` one
character, a backslash escapes), and when several paragraphs match a file the *last* one wins. The
first line of ``License:`` is the license's short name; following lines are its text.

This is good-faith parsing for recording provenance in a data set manifest, not a legal tool:
installed paths differ from source paths (callers map them, see ``source_path`` in
open_photos.py), and upstream copyright files are sometimes stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class FilesStanza:
    """One ``Files:`` paragraph: its patterns, license short name and copyright holders."""

    patterns: tuple[str, ...]
    license: str
    copyright: str

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{_glob_to_regex(p)})" for p in self.patterns))

    def matches(self, path: str) -> bool:
        return self._regex.fullmatch(path.lstrip("/")) is not None


def _glob_to_regex(pattern: str) -> str:
    """DEP-5 wildcards: ``*`` any run of characters (``/`` included), ``?`` exactly one, ``\\``
    escapes the next character. Everything else is literal."""
    out: list[str] = []
    chars = iter(pattern.lstrip("/"))
    for ch in chars:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        else:
            out.append(re.escape(ch))
    return "".join(out)


def parse_paragraphs(text: str) -> list[dict[str, str]]:
    """Split RFC-822-style text into paragraphs of fields. Continuation lines are joined with
    newlines; the ``.`` that stands for an empty line inside a value becomes an empty line."""
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, None
        elif line[0] in " \t":
            if key is not None:  # a continuation line before any field is malformed: ignore it
                value = line.strip()
                current[key] += "\n" + ("" if value == "." else value)
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            current[key] = value.strip()
        # anything else (a stray line without a colon) is ignored, as parsers of this format do
    if current:
        paragraphs.append(current)
    return paragraphs


class Dep5Copyright:
    """A parsed copyright file.

    >>> c = Dep5Copyright.parse("Files: *\\nCopyright: me\\nLicense: GPL-2+\\n\\n"
    ...                         "Files: img/*.jpg\\nCopyright: you\\nLicense: CC0-1.0\\n")
    >>> c.license_for("img/a.jpg").license, c.license_for("src/a.c").license
    ('CC0-1.0', 'GPL-2+')
    """

    def __init__(self, stanzas: list[FilesStanza], *, machine_readable: bool) -> None:
        self.stanzas = stanzas
        self.machine_readable = machine_readable

    @classmethod
    def parse(cls, text: str) -> Dep5Copyright:
        paragraphs = parse_paragraphs(text)
        machine_readable = bool(paragraphs) and "format" in paragraphs[0]
        stanzas = [
            FilesStanza(
                patterns=tuple(p["files"].split()),
                license=p.get("license", "").split("\n", 1)[0].strip(),
                copyright=" ".join(p.get("copyright", "").split()),
            )
            for p in paragraphs
            if "files" in p and p["files"].strip()
        ]
        return cls(stanzas, machine_readable=machine_readable)

    def license_for(self, path: str) -> FilesStanza | None:
        """The last stanza whose patterns match ``path`` (source-tree relative), else None."""
        for stanza in reversed(self.stanzas):
            if stanza.matches(path):
                return stanza
        return None

    @property
    def package_license(self) -> FilesStanza | None:
        """The ``Files: *`` stanza: the license that applies when nothing more specific does."""
        for stanza in self.stanzas:
            if "*" in stanza.patterns:
                return stanza
        return self.stanzas[0] if self.stanzas else None
