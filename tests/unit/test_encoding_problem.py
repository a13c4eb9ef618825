"""A body with bad UTF-8 gets one problem of ours naming the byte in the body, whichever
layer saw it: msgspec 0.23 refuses the body with its own error (tested over HTTP in
tests/reliability/test_hostile_round_two.py), older versions decode each string on its own
and raise UnicodeDecodeError with an offset inside that string — this is that path."""

from __future__ import annotations

from litestar import Request
from litestar.utils.scope.state import ScopeState

from flowtime.adapters.http.problems import handle_bad_encoding


def _request(body: bytes) -> Request:
    scope = {"type": "http", "method": "POST", "path": "/v1/runs", "headers": [],
             "query_string": b"", "state": {}}
    ScopeState.from_scope(scope).body = body  # type: ignore[arg-type]
    return Request(scope)  # type: ignore[arg-type]


def _string_error(text: bytes) -> UnicodeDecodeError:
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    raise AssertionError("valid UTF-8")


def test_a_string_decoders_offset_becomes_the_bodys_byte():
    body = b'{"templateId": "it-\xff"}'  # 19 bytes, then 0xff
    response = handle_bad_encoding(_request(body), _string_error(b"it-\xff"))  # offset 3
    problem = response.content
    assert response.status_code == 400 and problem.code == "invalid_encoding"
    assert problem.detail == "request body is not valid UTF-8 (byte 19)"
    assert [(e.loc, e.msg) for e in problem.errors] == [("body", problem.detail)]


def test_without_the_body_the_decoders_offset_is_named():
    response = handle_bad_encoding(_request(None), _string_error(b"ab\xfe"))  # type: ignore[arg-type]
    assert response.content.detail == "request body is not valid UTF-8 (byte 2)"
