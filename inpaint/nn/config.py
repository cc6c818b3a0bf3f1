"""PLACEHOLDER"""

from __future__ import annotations

from typing import Any
import dataclasses
import json


class ConfigIO:
    """JSON round trip shared by the model configs (config.json beside the weights)."""

    config_kind = "model"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["kernel_sizes"] = list(d["kernel_sizes"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown {cls.config_kind} config keys: {', '.join(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
