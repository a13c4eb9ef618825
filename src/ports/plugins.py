"""The plugin contract: what an entry point registered under `flowtime.artifact_stores` or
`flowtime.template_sources` must load. The entry point's name is the URL scheme it serves;
`from_url` receives the whole URL (`s3://bucket/prefix?endpoint_url=…`, `file:///data`);
stores also receive `durable` (False: the operator allows skipping fsync), which a store
without such a trade-off ignores."""

from __future__ import annotations

from typing import Protocol

from flowtime.ports.artifacts import ArtifactStore
from flowtime.ports.templates import TemplateSource


class StorePlugin(Protocol):
    scheme: str

    @classmethod
    def from_url(cls, url: str, *, durable: bool = True) -> ArtifactStore: ...


class TemplateSourcePlugin(Protocol):
    scheme: str

    @classmethod
    def from_url(cls, url: str) -> TemplateSource: ...
