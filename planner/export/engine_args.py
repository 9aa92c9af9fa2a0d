"""Each engine's documented flag names and value spellings (data/engine_args/<engine>.yaml), loaded once.

The files carry the engine release they describe and their source; `EngineArgs.check` is what makes
export refuse a flag the release does not define.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict

ENGINES = ("vllm", "sglang", "trtllm")


class EngineArgs(BaseModel):
    """One engine release: how to start it, its flag names, and how plan dtypes are spelled for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int
    engine: str
    version: str
    source: str
    as_of: str
    image: str
    command: tuple[str, ...]
    health_path: str
    memory_semantics: str
    weights_quantization: dict[str, str]
    kv_cache_dtype: dict[str, str]
    model_dtype: dict[str, str]
    flags: frozenset[str]
    config_keys: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return f"{self.engine} {self.version}"

    def undocumented(self, names: list[str], config_keys: list[str]) -> list[str]:
        """Flags and config keys that this release does not define (empty when all are documented)."""
        return [n for n in names if n not in self.flags] + [k for k in config_keys if k not in self.config_keys]


@cache
def engine_args(engine: str) -> EngineArgs:
    """The shipped argument data of `engine` (one of ENGINES)."""
    text = resources.files("planner.export").joinpath(f"data/engine_args/{engine}.yaml").read_text("utf-8")
    return EngineArgs.model_validate(yaml.safe_load(text))
