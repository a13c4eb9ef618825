"""Templates from a folder of `*.yaml` / `*.yml` files, keyed by `metadata.id`.

Files are re-read only when the folder's contents change (names, sizes, mtimes), so a
template dropped into the folder appears without a restart.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

from flowtime.domain.errors import (
    ErrorKind,
    FlowTimeError,
    Problem,
    conflict,
    invalid,
    not_found,
)
from flowtime.domain.modeling.templates import Template, parse_template

Fingerprint = tuple[tuple[str, int, int], ...]


def unknown_template(template_id: str, known: list[str]) -> FlowTimeError:
    """Not found, suggesting the closest known id."""
    import difflib

    close = difflib.get_close_matches(str(template_id), known, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return not_found("templateId", f"template '{template_id}' not found{hint}")


def shipped_templates_dir() -> Path:
    import flowtime.shipped_templates as folder  # a plain folder: no importlib.resources

    return Path(folder.__file__ or "").parent


class DirectoryTemplateSource:
    scheme = "file"

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._fingerprint: Fingerprint | None = None
        self._valid: dict[str, Template] = {}
        self._broken: dict[str, FlowTimeError] = {}
        self._quick: dict[str, Template] = {}  # read alone, before the folder was read
        self._quick_fingerprint: Fingerprint | None = None

    @classmethod
    def from_url(cls, url: str) -> DirectoryTemplateSource:
        parsed = urlparse(url)
        return cls(unquote(parsed.path) if parsed.scheme == "file" else url)

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir()
                      if p.suffix in (".yaml", ".yml") and p.is_file())

    def _state(self) -> tuple[list[Path], Fingerprint]:
        files = self._files()
        return files, tuple((p.name, int(p.stat().st_mtime_ns), p.stat().st_size) for p in files)

    def _refresh(self, state: tuple[list[Path], Fingerprint] | None = None) -> None:
        files, fingerprint = state or self._state()
        with self._lock:
            if fingerprint == self._fingerprint:
                return
            valid: dict[str, Template] = {}
            broken: dict[str, FlowTimeError] = {}
            for path in files:
                try:
                    template = parse_template(path.read_bytes(), loc=path.name)
                except FlowTimeError as exc:
                    broken[path.stem] = exc
                    continue
                if template.id in valid:
                    broken[template.id] = invalid([Problem(
                        path.name, f"template id '{template.id}' is defined twice")])
                    continue
                valid[template.id] = template
            self._valid, self._broken, self._fingerprint = valid, broken, fingerprint

    def list_templates(self) -> list[Template]:
        self._refresh()
        return sorted(self._valid.values(), key=lambda t: t.id)

    def get(self, template_id: str) -> Template:
        state = self._state()
        if state[1] != self._fingerprint:
            quick = self._read_alone(template_id, state)
            if quick is not None:
                return quick
            self._refresh(state)
        if template_id in self._valid:
            return self._valid[template_id]
        if template_id in self._broken:
            raise self._broken[template_id]
        raise unknown_template(template_id, list(self._valid))

    def _read_alone(self, template_id: str,
                    state: tuple[list[Path], Fingerprint]) -> Template | None:
        """`<id>.yaml` parsed alone when no other file can define the same id — a one-off
        command then parses one template, not the whole folder (~3 ms each). Any doubt (the
        file is missing or broken, names another id, another file mentions the id or holds
        an escape that could spell it) answers None and the whole folder is read; so does
        a fourth distinct id (a server soon needs them all)."""
        files, fingerprint = state
        with self._lock:
            if self._quick_fingerprint != fingerprint:
                self._quick, self._quick_fingerprint = {}, fingerprint
            if template_id in self._quick:
                return self._quick[template_id]
            if len(self._quick) >= 3 or not template_id:
                return None
        wanted = template_id.encode("utf-8", "replace")
        found: tuple[Path, bytes] | None = None
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                return None
            if path.stem == template_id and found is None:
                found = (path, data)
            elif wanted in data or b"\\" in data:
                return None
        if found is None:
            return None
        try:
            template = parse_template(found[1], loc=found[0].name)
        except FlowTimeError:
            return None
        if template.id != template_id:
            return None
        with self._lock:
            if self._quick_fingerprint == fingerprint:
                self._quick[template_id] = template
        return template

    def save(self, template_id: str, text: str) -> None:
        """Write a new template (`<id>.yaml`) atomically; an id already in use is a
        conflict (a saved template is never overwritten)."""
        self._refresh()
        if template_id in self._valid or template_id in self._broken:
            raise conflict("saveAs", f"template '{template_id}' already exists")
        if not re.fullmatch(r"[a-z0-9-]+", template_id):
            raise invalid([Problem("saveAs", "must match ^[a-z0-9-]+$")])
        path = self.directory / f"{template_id}.yaml"
        if path.exists():
            raise conflict("saveAs", f"{path.name} already exists in the template folder")
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(temp, "x", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temp, path)  # fails if another writer got there first
        except FileExistsError:
            raise conflict("saveAs", f"template '{template_id}' already exists") from None
        except OSError as exc:
            logging.getLogger("flowtime.templates").warning(
                "cannot write template %s into %s: %s", template_id, self.directory, exc)
            raise FlowTimeError(ErrorKind.UNAVAILABLE, "cannot write the template folder", [
                Problem("saveAs", f"the template folder refused the write: {exc.strerror} "
                        "(the server log names the folder)")]) from None
        finally:
            temp.unlink(missing_ok=True)

    def problems(self) -> dict[str, FlowTimeError]:
        """Files in the folder that failed to parse, by file stem or id."""
        self._refresh()
        return dict(self._broken)


class LayeredTemplateSource:
    """The shipped templates plus a folder of the user's own (`FLOWTIME_DATA_DIR/templates`
    by default): what `saveAs` writes goes to the user's folder, never into the installed
    package. An id in both folders is the shipped one; saving never reuses an id."""

    scheme = "file"

    def __init__(self, own: DirectoryTemplateSource, shipped: DirectoryTemplateSource):
        self.own = own
        self.shipped = shipped

    def list_templates(self) -> list[Template]:
        found = {t.id: t for t in self.own.list_templates()}
        found.update({t.id: t for t in self.shipped.list_templates()})
        return sorted(found.values(), key=lambda t: t.id)

    def get(self, template_id: str) -> Template:
        for source in (self.shipped, self.own):
            try:
                return source.get(template_id)
            except FlowTimeError as exc:
                if exc.kind != ErrorKind.NOT_FOUND:
                    raise
        raise unknown_template(template_id, [t.id for t in self.list_templates()])

    def save(self, template_id: str, text: str) -> None:
        if template_id in {t.id for t in self.shipped.list_templates()} \
                or template_id in self.shipped.problems():
            raise conflict("saveAs", f"template '{template_id}' already exists (shipped)")
        self.own.save(template_id, text)

    def problems(self) -> dict[str, FlowTimeError]:
        return {**self.own.problems(), **self.shipped.problems()}
