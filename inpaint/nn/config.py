"""Model configs as versioned JSON: the constructor arguments of a network, saved as config.json
beside its weights and enough to rebuild it.

Each config class has a ``schema_version`` and, for every older version v, a migration that turns
a v config into a v + 1 one. ``from_dict`` applies them in order, so a config.json written by any
earlier release reads as the current schema with the meaning it had when it was written; a
config from a newer release than this code is refused with one line.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, ClassVar

Migration = Callable[[dict[str, Any]], dict[str, Any]]

VERSION_KEY = "config_version"


class ConfigIO:
    """JSON round trip with schema migrations, shared by the model configs."""

    config_kind: ClassVar[str] = "model"
    schema_version: ClassVar[int] = 1
    # migrations[v] turns a version-v dict into a version v + 1 dict
    migrations: ClassVar[dict[int, Migration]] = {}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        for key, value in d.items():
            if isinstance(value, tuple):
                d[key] = list(value)
        d[VERSION_KEY] = self.schema_version
        return d

    @classmethod
    def migrate(cls, d: dict[str, Any]) -> dict[str, Any]:
        """``d`` (any schema version; none recorded = version 1) as the current schema."""
        d = dict(d)
        version = d.pop(VERSION_KEY, 1)
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"{VERSION_KEY} must be a positive integer, got {version!r}")
        if version > cls.schema_version:
            raise ValueError(
                f"this {cls.config_kind} config has schema version {version}, newer than this code's "
                f"{cls.schema_version}: update the software to load it"
            )
        for v in range(version, cls.schema_version):
            d = cls.migrations[v](d)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        d = cls.migrate(d)
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown {cls.config_kind} config keys: {', '.join(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def fill_missing(defaults: dict[str, Any]) -> Migration:
    """A migration that adds options a schema did not have yet, with the value that reproduces
    how models were built before the option existed."""

    def migration(d: dict[str, Any]) -> dict[str, Any]:
        return {**defaults, **d}

    return migration
