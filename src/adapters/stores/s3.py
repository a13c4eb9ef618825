"""Run bundles in any S3-compatible object store (AWS S3, MinIO, SeaweedFS, Ceph RGW).

Client: boto3. It is the most widely deployed S3 client, speaks every S3 dialect we target,
takes credentials from the standard AWS chain (environment, config files, instance roles),
and exposes conditional writes (`IfNoneMatch="*"`), which atomic publishing needs.

Key layout under `s3://bucket/prefix/`::

    commits/<runId>.json              the commit object: generation, file list, summary
    data/<runId>/<generation>/<path>  the bundle's files for one publish attempt

Publishing writes every file under a fresh generation, then creates the commit object last
with `If-None-Match: *`, so two concurrent publishers cannot both win; a run exists only
once its commit object exists. The loser (or a failed publish) deletes its own objects.
Servers that ignore the condition are caught by reading the commit back. Overwrite replaces
the commit in one PUT, then deletes the old generation. Listing reads the small commit
objects, cached by ETag, so a page over 10,000 runs does not read 10,000 bundles per call.

Reading: every read asks for the run's commit (another replica may have replaced or deleted
the run), but the files of a generation never change, so they are kept in a bounded cache
(`file_cache.py`; `?cache_bytes=` in the store URL, 64 MiB by default), and `read_many`
fetches the files a request needs in parallel after one commit GET.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

from msgspec.structs import asdict

from flowtime.adapters.stores import faults
from flowtime.adapters.stores.file_cache import DEFAULT_MAX_BYTES, FileCache
from flowtime.adapters.stores.paths import (
    RECORD_FILES,
    already_exists,
    check_bundle,
    check_record,
    check_relative_path,
    check_run_id,
)
from flowtime.domain.artifacts.records import summary_of
from flowtime.domain.errors import ErrorKind, FlowTimeError, Problem, not_found
from flowtime.domain.runs import RunFilter, RunPage, RunSummary, paginate
from flowtime.ports.artifacts import RunFiles

log = logging.getLogger("flowtime.stores.s3")
COMMITS = "commits/"
READERS = 16  # parallel GETs of one bundle's files (and of `read_many` callers' runs)
DATA = "data/"
CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


def _unavailable(message: str, exc: Exception) -> FlowTimeError:
    """A 503 for the client, without the endpoint or object keys (those go to the log)."""
    log.warning("object store: %s (%s: %s)", message, type(exc).__name__, exc)
    return FlowTimeError(ErrorKind.UNAVAILABLE, f"the object store is unavailable: {message}")


F = TypeVar("F", bound=Callable[..., Any])


def _store_call(action: str) -> Callable[[F], F]:
    """Any botocore failure a method does not handle itself becomes a clean 503."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                return method(*args, **kwargs)
            except (BotoCoreError, ClientError) as exc:
                raise _unavailable(f"could not {action}", exc) from exc

        return call  # type: ignore[return-value]

    return wrap


class S3ArtifactStore:
    scheme = "s3"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, create_bucket: bool = False, client: Any = None,
                 cache_bytes: int = DEFAULT_MAX_BYTES):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
            config=Config(retries={"max_attempts": 3, "mode": "standard"},
                          max_pool_connections=32))
        self._cache: dict[str, tuple[str, RunSummary]] = {}
        self._lock = threading.Lock()
        self._files = FileCache(cache_bytes)
        self._readers: ThreadPoolExecutor | None = None
        if create_bucket:
            self._ensure_bucket()

    @classmethod
    def from_url(cls, url: str, *, durable: bool = True) -> S3ArtifactStore:
        """`durable` is ignored: a PUT is durable once the server acknowledges it."""
        parsed = urlparse(url)
        if not parsed.netloc:
            raise FlowTimeError(ErrorKind.INVALID, "s3 store URL needs a bucket", [
                Problem("store", "expected s3://bucket/prefix?endpoint_url=…&region=…")])
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        cache = query.get("cache_bytes", "")
        return cls(parsed.netloc, parsed.path, endpoint_url=query.get("endpoint_url"),
                   region=query.get("region"),
                   create_bucket=query.get("create_bucket", "").lower() in ("1", "true", "yes"),
                   cache_bytes=int(cache) if cache.isdigit() else DEFAULT_MAX_BYTES)

    # -- helpers ------------------------------------------------------------------------
    @_store_call("reach the bucket")
    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def _commit_key(self, run_id: str) -> str:
        return f"{self.prefix}{COMMITS}{run_id}.json"

    def _data_key(self, run_id: str, generation: str, path: str = "") -> str:
        return f"{self.prefix}{DATA}{run_id}/{generation}/{path}"

    @staticmethod
    def _code(exc: Exception) -> str:
        response = getattr(exc, "response", {}) or {}
        return str(response.get("Error", {}).get("Code", ""))

    def _get_bytes(self, key: str) -> bytes | None:
        """The object's bytes; None when it does not exist."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if self._code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise _unavailable("could not read from the object store", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("object store is unreachable", exc) from exc
        return body["Body"].read()

    def _get_commit(self, run_id: str) -> dict[str, Any] | None:
        data = self._get_bytes(self._commit_key(run_id))
        return None if data is None else json.loads(data)

    def _commit(self, run_id: str) -> dict[str, Any]:
        check_run_id(run_id)
        commit = self._get_commit(run_id)
        if commit is None:
            raise not_found("runId", f"run '{run_id}' not found")
        return commit

    def _discard(self, run_id: str, generation: str) -> None:
        """Best-effort removal of a failed publish's objects: when the store is down this
        fails too, and must not hide why the publish failed (gc removes them later)."""
        try:
            self._delete_prefix(self._data_key(run_id, generation))
        except Exception as exc:
            log.warning("could not remove generation %s of run %s after a failed publish: %s",
                        generation, run_id, exc)

    def _delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(keys), 1000):
                self.client.delete_objects(Bucket=self.bucket,
                                           Delete={"Objects": keys[start:start + 1000],
                                                   "Quiet": True})

    # -- writing ------------------------------------------------------------------------
    @_store_call("publish the run")
    def publish(self, run_id: str, files: Mapping[str, bytes], summary: RunSummary, *,
                overwrite: bool) -> None:
        from botocore.exceptions import ClientError

        check_bundle(run_id, files)
        if not overwrite and self._get_commit(run_id) is not None:
            raise already_exists(run_id)
        generation = secrets.token_hex(8)
        commit = {"runId": run_id, "generation": generation, "files": sorted(files),
                  "summary": asdict(summary)}
        body = json.dumps(commit).encode("utf-8")
        previous = self._get_commit(run_id) if overwrite else None
        try:
            for path, data in files.items():
                self.client.put_object(Bucket=self.bucket,
                                       Key=self._data_key(run_id, generation, path), Body=data)
            faults.reached("s3.objects_written")
            condition = {} if overwrite else {"IfNoneMatch": "*"}
            self.client.put_object(Bucket=self.bucket, Key=self._commit_key(run_id), Body=body,
                                   ContentType="application/json", **condition)
            faults.reached("s3.committed")
            # Overwrites: last writer wins, as in the file store (a concurrent overwrite
            # that commits later replaces this one; both succeed). New runs: the commit's
            # If-None-Match makes exactly one winner; the read-back covers servers that
            # ignore the condition.
            if not overwrite:
                winner = self._get_commit(run_id)
                if winner is None or winner.get("generation") != generation:
                    raise already_exists(run_id)
        except ClientError as exc:
            self._discard(run_id, generation)
            if self._code(exc) in CONFLICT_CODES:
                raise already_exists(run_id) from None
            raise _unavailable(f"could not publish run '{run_id}'", exc) from exc
        except BaseException:
            self._discard(run_id, generation)
            raise
        if previous is not None and previous.get("generation") != generation:
            # Best effort: a concurrent overwrite may have removed it already.
            self._discard(run_id, previous["generation"])

    @_store_call("clean up")
    def clean_debris(self, older_than_seconds: float = 3600) -> int:
        """Delete generations no commit points to (left by killed writers) once they are
        older than `older_than_seconds` (younger ones may belong to a publish in flight).
        Returns how many objects were removed."""
        import datetime as dt

        committed: dict[str, str] = {}
        start = len(self.prefix) + len(COMMITS)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + COMMITS):
            for item in page.get("Contents", []):
                commit = self._get_commit(item["Key"][start:-5])
                if commit:
                    committed[commit["runId"]] = commit["generation"]
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than_seconds)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        data_prefix = self.prefix + DATA
        for page in paginator.paginate(Bucket=self.bucket, Prefix=data_prefix):
            for item in page.get("Contents", []):
                parts = item["Key"][len(data_prefix):].split("/", 2)
                if len(parts) == 3:
                    groups.setdefault((parts[0], parts[1]), []).append(item)
        removed = 0
        for (run_id, generation), items in groups.items():
            if committed.get(run_id) == generation:
                continue
            if max(i["LastModified"] for i in items) > cutoff:
                continue
            self._delete_prefix(self._data_key(run_id, generation))
            removed += len(items)
        return removed

    @_store_call("delete the run")
    def delete(self, run_id: str) -> None:
        commit = self._commit(run_id)
        self.client.delete_object(Bucket=self.bucket, Key=self._commit_key(run_id))
        self._delete_prefix(self._data_key(run_id, commit["generation"]))
        with self._lock:
            self._cache.pop(run_id, None)
        self._files.drop_run(run_id)

    # -- reading ------------------------------------------------------------------------
    @_store_call("look the run up")
    def exists(self, run_id: str) -> bool:
        check_run_id(run_id)
        return self._get_commit(run_id) is not None

    @_store_call("read the file")
    def read(self, run_id: str, path: str) -> bytes:
        check_relative_path(path)
        commit = self._commit(run_id)  # always asked: another replica may have replaced it
        data = self._data(run_id, commit["generation"], path) \
            if path in commit["files"] else None
        if data is None:
            raise not_found("path", f"no file '{path}' in run '{run_id}'")
        return data

    def _data(self, run_id: str, generation: str, path: str, fresh: bool = False
              ) -> bytes | None:
        """A file of one generation: from the cache (its bytes never change) or the store."""
        key = (run_id, generation, path)
        found = None if fresh else self._files.get(key)
        if found is None:
            found = self._get_bytes(self._data_key(run_id, generation, path))
            if found is not None:
                self._files.put(key, found)
        return found

    @_store_call("read the run")
    def read_many(self, run_id: str, paths: Sequence[str] | None = None, *,
                  fresh: bool = False) -> RunFiles:
        """One commit GET, then the files' GETs in parallel (READERS at a time), cached
        ones skipped unless `fresh`."""
        for path in paths or ():
            check_relative_path(path)
        commit = self._commit(run_id)
        files, generation = list(commit["files"]), commit["generation"]
        present = set(files)
        wanted = files if paths is None else [p for p in dict.fromkeys(paths) if p in present]
        if len(wanted) <= 1:
            found = [self._data(run_id, generation, p, fresh) for p in wanted]
        else:
            found = list(self._pool().map(
                lambda p: self._data(run_id, generation, p, fresh), wanted))
        return RunFiles(files, {p: b for p, b in zip(wanted, found, strict=True)
                                if b is not None})

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._readers is None:
                self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="s3-read")
            return self._readers

    @_store_call("list the run's files")
    def list_files(self, run_id: str) -> list[str]:
        return list(self._commit(run_id)["files"])

    def location(self, run_id: str, path: str) -> str:
        return f"s3://{self.bucket}/{self._commit_key(run_id)}#{path}"

    @_store_call("list runs")
    def run_ids(self) -> list[str]:
        start = len(self.prefix) + len(COMMITS)
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + COMMITS):
            found.extend(item["Key"][start:-5] for item in page.get("Contents", [])
                         if item["Key"].endswith(".json"))
        return sorted(found)

    @_store_call("read the run summary")
    def summary(self, run_id: str) -> RunSummary:
        return self._summary_of(run_id, self._commit(run_id))

    def _summary_of(self, run_id: str, commit: dict[str, Any]) -> RunSummary:
        data = commit.get("summary") or {}
        if "parameters" in data:
            return RunSummary(**data)
        # a commit written before summaries carried parameters: derive from the bundle
        return summary_of(run_id, lambda path: self.read(run_id, path))

    @_store_call("list runs")
    def list_runs(self, run_filter: RunFilter, page: int, page_size: int) -> RunPage:
        return paginate(self._summaries(), run_filter, page, page_size)

    def _summaries(self) -> list[RunSummary]:
        listed: dict[str, str] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        start = len(self.prefix) + len(COMMITS)
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + COMMITS):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith(".json"):
                    listed[key[start:-5]] = item.get("ETag", "")
        missing = [r for r, etag in listed.items()
                   if (cached := self._cache.get(r)) is None or cached[0] != etag]

        def load(run_id: str) -> tuple[str, str, RunSummary] | None:
            commit = self._get_commit(run_id)
            if commit is None:
                return None
            return run_id, listed[run_id], self._summary_of(run_id, commit)

        if missing:
            with ThreadPoolExecutor(max_workers=16) as pool:
                for loaded in pool.map(load, missing):
                    if loaded is not None:
                        with self._lock:
                            self._cache[loaded[0]] = (loaded[1], loaded[2])
        with self._lock:
            for gone in set(self._cache) - set(listed):
                self._cache.pop(gone, None)
            return [s for r, (_, s) in self._cache.items() if r in listed]

    # -- sweeps (plain objects: each PUT replaces the whole object atomically) ----------
    def _sweep_key(self, sweep_id: str, path: str) -> str:
        check_run_id(sweep_id)
        check_relative_path(path)
        return f"{self.prefix}sweeps/{sweep_id}/{path}"

    @_store_call("write the sweep")
    def write_sweep_file(self, sweep_id: str, path: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._sweep_key(sweep_id, path), Body=data)

    @_store_call("claim the sweep")
    def claim_sweep_file(self, sweep_id: str, path: str, data: bytes) -> bool:
        from botocore.exceptions import ClientError

        key = self._sweep_key(sweep_id, path)
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if self._code(exc) in CONFLICT_CODES:
                return False
            raise
        # a server that ignores the condition: the object read back names the winner
        return self._get_bytes(key) == data

    @_store_call("read the sweep")
    def read_sweep_file(self, sweep_id: str, path: str) -> bytes:
        data = self._get_bytes(self._sweep_key(sweep_id, path))
        if data is None:
            raise not_found("sweepId", f"no '{path}' for sweep '{sweep_id}'")
        return data

    @_store_call("write the record")
    def write_record(self, kind: str, record_id: str, data: bytes) -> None:
        check_record(kind, record_id)
        self.client.put_object(Bucket=self.bucket,
                               Key=f"{self.prefix}{kind}/{record_id}/{RECORD_FILES[kind]}",
                               Body=data)

    @_store_call("read the record")
    def read_record(self, kind: str, record_id: str) -> bytes:
        check_record(kind, record_id)
        data = self._get_bytes(f"{self.prefix}{kind}/{record_id}/{RECORD_FILES[kind]}")
        if data is None:
            raise not_found("id", f"no {kind} record '{record_id}'")
        return data

    @_store_call("delete the record")
    def delete_record(self, kind: str, record_id: str) -> None:
        check_record(kind, record_id)
        self.client.delete_object(Bucket=self.bucket,
                                  Key=f"{self.prefix}{kind}/{record_id}/{RECORD_FILES[kind]}")

    @_store_call("list records")
    def list_records(self, kind: str) -> list[str]:
        check_record(kind, "x")
        prefix = f"{self.prefix}{kind}/"
        found = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                rest = item["Key"][len(prefix):]
                if rest.endswith("/" + RECORD_FILES[kind]) and rest.count("/") == 1:
                    found.add(rest.split("/", 1)[0])
        return sorted(found)

    @_store_call("list sweeps")
    def list_sweeps(self) -> list[str]:
        prefix = f"{self.prefix}sweeps/"
        found = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                rest = item["Key"][len(prefix):]
                if rest.endswith("/sweep.json") and rest.count("/") == 1:
                    found.add(rest.split("/", 1)[0])
        return sorted(found)

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable(f"bucket '{self.bucket}' is not reachable", exc) from exc
