"""Lexer and recursive-descent parser for the node expression language.

Grammar (functions are case-insensitive)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | primary
    primary := NUMBER | IDENT | IDENT "(" args? ")" | "(" expr ")" | "[" numbers "]"

Every error carries the 1-based column where it was found.
"""

from __future__ import annotations

import math
import re

import msgspec

from flowtime.domain.expressions.ast import ArrayLit, BinOp, Call, Expr, Neg, Num, Ref, children
from flowtime.domain.expressions.functions import FUNCTIONS

MAX_EXPRESSION_LENGTH = 10_000
# Height of the syntax tree (nesting and the length of operator chains alike): evaluators
# and validation walk trees recursively, so the parser refuses what they could not walk.
MAX_DEPTH = 100

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>[-+*/(),\[\]])
    """,
    re.VERBOSE,
)

class ExpressionError(Exception):
    def __init__(self, column: int, message: str):
        self.column = column
        self.message = message
        super().__init__(f"{message} at column {column}")


class Token(msgspec.Struct, frozen=True):
    kind: str  # number | ident | op | end
    text: str
    col: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(pos + 1, f"unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.current
        if token.text != text:
            found = "end of expression" if token.kind == "end" else repr(token.text)
            raise ExpressionError(token.col, f"expected {text!r} but found {found}")
        return self.advance()

    def parse(self) -> Expr:
        if self.current.kind == "end":
            raise ExpressionError(1, "expression is empty")
        node = self.expr()
        if self.current.kind != "end":
            raise ExpressionError(self.current.col, f"unexpected {self.current.text!r}")
        return node

    def expr(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError(self.current.col, "expression is nested too deeply")
        node = self.term()
        while self.current.text in ("+", "-"):
            op = self.advance()
            node = BinOp(op.text, node, self.term(), op.col)
        self.depth -= 1
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.current.text in ("*", "/"):
            op = self.advance()
            node = BinOp(op.text, node, self.unary(), op.col)
        return node

    def unary(self) -> Expr:
        token = self.current
        if token.text in ("-", "+"):
            self.advance()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExpressionError(token.col, "expression is nested too deeply")
            operand = self.unary()
            self.depth -= 1
            if token.text == "+":
                return operand
            if isinstance(operand, Num) and operand.col == token.col + 1:
                return Num(-operand.value, token.col)  # `-2` is a literal (e.g. SAFE's default)
            return Neg(operand, token.col)
        return self.primary()

    def primary(self) -> Expr:
        token = self.current
        if token.kind == "number":
            self.advance()
            value = float(token.text)
            if not math.isfinite(value):
                raise ExpressionError(token.col, f"number {token.text} is out of range")
            return Num(value, token.col)
        if token.kind == "ident":
            self.advance()
            if self.current.text == "(":
                return self.call(token)
            return Ref(token.text, token.col)
        if token.text == "(":
            self.advance()
            node = self.expr()
            self.expect(")")
            return node
        if token.text == "[":
            raise ExpressionError(token.col, "array literals like [1, 2] are only allowed as the "
                                  "kernel of CONV; this position does not accept an array literal")
        found = "end of expression" if token.kind == "end" else repr(token.text)
        raise ExpressionError(token.col, f"expected a number, node id or '(' but found {found}")

    def array(self) -> ArrayLit:
        start = self.expect("[")
        values: list[float] = []
        while True:
            sign = 1.0
            if self.current.text == "-":
                self.advance()
                sign = -1.0
            token = self.current
            if token.kind != "number":
                raise ExpressionError(token.col, "array literals may contain only numbers")
            self.advance()
            values.append(sign * float(token.text))
            if self.current.text == ",":
                self.advance()
                continue
            self.expect("]")
            return ArrayLit(tuple(values), start.col)

    def call(self, name_token: Token) -> Call:
        name = name_token.text.upper()
        spec = FUNCTIONS.get(name)
        if spec is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExpressionError(
                name_token.col, f"unknown function '{name_token.text}' (known: {known})"
            )
        self.expect("(")
        args: list[Expr] = []
        if self.current.text != ")":
            args.append(self.argument())
            while self.current.text == ",":
                self.advance()
                args.append(self.argument())
        self.expect(")")
        node = Call(name, tuple(args), name_token.col)
        _check_call(node)
        return node

    def argument(self) -> Expr:
        return self.array() if self.current.text == "[" else self.expr()


def _check_call(node: Call) -> None:
    spec = FUNCTIONS[node.name]
    count = len(node.args)
    if count < spec.min_args or (spec.max_args is not None and count > spec.max_args):
        raise ExpressionError(node.col, f"{node.name} takes {spec.arity_text} arguments, got {count}")
    for i, arg in enumerate(node.args):
        if isinstance(arg, ArrayLit) and i != spec.array_arg:
            raise ExpressionError(arg.col, f"{node.name} does not accept an array literal here")
        rule = spec.literal(i)
        if rule is not None and not rule.accepts(arg):
            raise ExpressionError(arg.col or node.col, rule.message(node.name))


def tree_height(node: Expr) -> int:
    """Levels of the tree, iteratively (a long chain must not exhaust the stack here)."""
    height, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        height = max(height, level)
        stack.extend((child, level + 1) for child in children(current))
    return height


def parse_expression(text: str) -> Expr:
    """Parse expression text into an AST; raises ExpressionError with a column."""
    if not isinstance(text, str):
        raise ExpressionError(1, "expression must be a string")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(1, f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = _Parser(text).parse()
    except RecursionError:
        raise ExpressionError(1, "expression is nested too deeply") from None
    if tree_height(tree) > MAX_DEPTH:
        raise ExpressionError(1, f"expression is nested too deeply (more than {MAX_DEPTH} levels "
                              "of calls, parentheses or chained operators; split it into nodes)")
    return tree
