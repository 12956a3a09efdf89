"""A parser of Grafana Alloy's configuration syntax, written from its
published syntax reference (https://grafana.com/docs/alloy/latest/get-started/configuration-syntax/
and its pages "Syntax", "Expressions", "Operators", "Types and values"):

    file       = { statement NEWLINE }
    statement  = attribute | block
    attribute  = IDENT "=" expression
    block      = IDENT { "." IDENT } [ STRING ] "{" { statement NEWLINE } "}"
    expression = literal | array | object | IDENT access... | call | unary/binary operators
    array      = "[" [ expression { "," expression } [ "," ] ] "]"
    object     = "{" [ field { "," field } [ "," ] ] "}"     field = (IDENT | STRING) "=" expression

Comments are `// …` and `/* … */`. Statements end at a newline; inside
arrays, objects and calls newlines are free, but fields and elements must be
separated by commas (a missing one is an error, as in Alloy). Block labels
are strings of letters, digits and underscores.

Alloy cannot be installed here: this is how obsctl checks the files it
renders (tests/static/alloy/check.py adds the component reference). A
regression guard, not Alloy itself: what Alloy accepts and this parser
refuses, or the reverse, is a bug of this file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class AlloySyntaxError(ValueError):
    def __init__(self, line: int, col: int, message: str):
        super().__init__(f"line {line}, column {col}: {message}")
        self.line, self.col = line, col


@dataclass
class Token:
    kind: str  # IDENT NUMBER STRING OP NEWLINE EOF
    value: Any
    line: int
    col: int


@dataclass
class Attribute:
    name: str
    value: Any
    line: int


@dataclass
class Block:
    name: str  # dotted, e.g. "loki.source.file"
    label: str | None
    body: list = field(default_factory=list)
    line: int = 0

    def attributes(self) -> dict[str, Any]:
        return {s.name: s.value for s in self.body if isinstance(s, Attribute)}

    def blocks(self) -> list["Block"]:
        return [s for s in self.body if isinstance(s, Block)]


@dataclass
class Ref:
    """An identifier with its accesses, e.g. loki.write.default.receiver."""
    path: list[str]

    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass
class Call:
    function: Any
    args: list


@dataclass
class Op:
    op: str
    operands: list


IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
LABEL = re.compile(r"^[A-Za-z0-9_]+$")
OPERATORS = ["||", "&&", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "^", "!",
             "=", ".", ",", "[", "]", "{", "}", "(", ")"]
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
BINARY = [["||"], ["&&"], ["==", "!=", "<", "<=", ">", ">="], ["+", "-"], ["*", "/", "%"], ["^"]]


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, line, col = 0, 1, 1

    def err(msg: str):
        raise AlloySyntaxError(line, col, msg)

    while i < len(text):
        c = text[i]
        if c == "\n":
            tokens.append(Token("NEWLINE", None, line, col))
            i, line, col = i + 1, line + 1, 1
            continue
        if c in " \t\r":
            i, col = i + 1, col + 1
            continue
        if text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                err("unterminated block comment")
            chunk = text[i:end + 2]
            # A block comment spanning lines ends the line it is on.
            if "\n" in chunk:
                tokens.append(Token("NEWLINE", None, line, col))
            line += chunk.count("\n")
            col = len(chunk) - chunk.rfind("\n") if "\n" in chunk else col + len(chunk)
            i = end + 2
            continue
        if c == '"':
            j, out = i + 1, []
            while True:
                if j >= len(text) or text[j] == "\n":
                    err("unterminated string")
                ch = text[j]
                if ch == '"':
                    break
                if ch == "\\":
                    nxt = text[j + 1] if j + 1 < len(text) else ""
                    if nxt in ESCAPES:
                        out.append(ESCAPES[nxt]); j += 2; continue
                    if nxt in "uU":
                        n = 4 if nxt == "u" else 8
                        hexd = text[j + 2:j + 2 + n]
                        if not re.fullmatch(r"[0-9a-fA-F]{%d}" % n, hexd):
                            err(f"invalid \\{nxt} escape")
                        out.append(chr(int(hexd, 16))); j += 2 + n; continue
                    err(f"unknown escape sequence \\{nxt}")
                out.append(ch); j += 1
            tokens.append(Token("STRING", "".join(out), line, col))
            col += j + 1 - i
            i = j + 1
            continue
        if c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                err("unterminated raw string")
            raw = text[i + 1:end]
            tokens.append(Token("STRING", raw, line, col))
            line += raw.count("\n")
            col = len(raw) - raw.rfind("\n") + 1 if "\n" in raw else col + len(raw) + 2
            i = end + 1
            continue
        m = IDENT.match(text, i)
        if m:
            tokens.append(Token("IDENT", m.group(), line, col))
            col += len(m.group()); i = m.end()
            continue
        m = NUMBER.match(text, i)
        if m:
            v = m.group()
            tokens.append(Token("NUMBER", float(v) if any(x in v for x in ".eE") else int(v), line, col))
            col += len(v); i = m.end()
            continue
        for op in OPERATORS:
            if text.startswith(op, i):
                tokens.append(Token("OP", op, line, col))
                i, col = i + len(op), col + len(op)
                break
        else:
            err(f"unexpected character {c!r}")
    tokens.append(Token("EOF", None, line, col))
    return tokens


class Parser:
    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    # -- helpers
    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.peek()
        self.i += 1
        return t

    def err(self, t: Token, msg: str):
        raise AlloySyntaxError(t.line, t.col, msg)

    def is_op(self, op: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t.kind == "OP" and t.value == op

    def expect_op(self, op: str) -> Token:
        t = self.next()
        if not (t.kind == "OP" and t.value == op):
            self.err(t, f"expected {op!r}, found {self.show(t)}")
        return t

    @staticmethod
    def show(t: Token) -> str:
        return {"NEWLINE": "newline", "EOF": "end of file"}.get(t.kind, repr(t.value))

    def skip_newlines(self):
        while self.peek().kind == "NEWLINE":
            self.i += 1

    # -- statements
    def parse_file(self) -> list:
        body = self.statements(top=True)
        return body

    def statements(self, top: bool) -> list:
        body = []
        while True:
            self.skip_newlines()
            t = self.peek()
            if t.kind == "EOF":
                if not top:
                    self.err(t, "expected '}' to close the block, found end of file")
                return body
            if self.is_op("}"):
                if top:
                    self.err(t, "unexpected '}'")
                return body
            body.append(self.statement())
            end = self.peek()
            if end.kind in ("NEWLINE", "EOF") or (not top and self.is_op("}")):
                continue
            self.err(end, f"expected a newline after the statement, found {self.show(end)}")

    def statement(self):
        t = self.next()
        if t.kind != "IDENT":
            self.err(t, f"expected an attribute or block name, found {self.show(t)}")
        if self.is_op("="):
            self.next()
            return Attribute(t.value, self.expression(), t.line)
        name = [t.value]
        while self.is_op("."):
            self.next()
            part = self.next()
            if part.kind != "IDENT":
                self.err(part, f"expected an identifier after '.', found {self.show(part)}")
            name.append(part.value)
        label = None
        if self.peek().kind == "STRING":
            lt = self.next()
            if not LABEL.match(lt.value):
                self.err(lt, f"block label {lt.value!r}: only letters, digits and underscores")
            label = lt.value
        self.expect_op("{")
        body = self.statements(top=False)
        self.expect_op("}")
        return Block(".".join(name), label, body, t.line)

    # -- expressions
    def expression(self, level: int = 0):
        if level == len(BINARY):
            return self.unary()
        left = self.expression(level + 1)
        ops = BINARY[level]
        while self.peek().kind == "OP" and self.peek().value in ops:
            op = self.next().value
            # ^ is right-associative.
            right = self.expression(level if op == "^" else level + 1)
            left = Op(op, [left, right])
        return left

    def unary(self):
        if self.peek().kind == "OP" and self.peek().value in ("!", "-"):
            op = self.next().value
            return Op(op, [self.unary()])
        return self.postfix(self.primary())

    def postfix(self, value):
        while True:
            if self.is_op("."):
                self.next()
                t = self.next()
                if t.kind != "IDENT":
                    self.err(t, f"expected a field name after '.', found {self.show(t)}")
                value = Ref(value.path + [t.value]) if isinstance(value, Ref) else Op(".", [value, t.value])
            elif self.is_op("["):
                self.next(); self.skip_newlines()
                idx = self.expression(); self.skip_newlines()
                self.expect_op("]")
                value = Op("[]", [value, idx])
            elif self.is_op("("):
                self.next()
                value = Call(value, self.sequence(")"))
            else:
                return value

    def sequence(self, close: str) -> list:
        """Elements up to `close`, separated by commas, a trailing one allowed."""
        items = []
        while True:
            self.skip_newlines()
            if self.is_op(close):
                self.next()
                return items
            items.append(self.expression())
            self.skip_newlines()
            if self.is_op(","):
                self.next()
                continue
            if self.is_op(close):
                self.next()
                return items
            t = self.peek()
            self.err(t, f"expected ',' or {close!r}, found {self.show(t)} (missing ',' between elements?)")

    def primary(self):
        t = self.next()
        if t.kind in ("NUMBER", "STRING"):
            return t.value
        if t.kind == "IDENT":
            return {"true": True, "false": False, "null": None}.get(t.value, Ref([t.value])) \
                if t.value in ("true", "false", "null") else Ref([t.value])
        if t.kind == "OP" and t.value == "(":
            self.skip_newlines()
            v = self.expression()
            self.skip_newlines()
            self.expect_op(")")
            return v
        if t.kind == "OP" and t.value == "[":
            return self.sequence("]")
        if t.kind == "OP" and t.value == "{":
            return self.object()
        self.err(t, f"expected an expression, found {self.show(t)}")

    def object(self) -> dict:
        out: dict = {}
        while True:
            self.skip_newlines()
            if self.is_op("}"):
                self.next()
                return out
            k = self.next()
            if k.kind not in ("IDENT", "STRING"):
                self.err(k, f"expected a field name, found {self.show(k)}")
            if k.value in out:
                self.err(k, f"field {k.value!r} given twice")
            self.expect_op("=")
            out[k.value] = self.expression()
            self.skip_newlines()
            if self.is_op(","):
                self.next()
                continue
            if self.is_op("}"):
                self.next()
                return out
            t = self.peek()
            self.err(t, f"expected ',' or '}}', found {self.show(t)} (missing ',' between fields?)")


def parse(text: str) -> list:
    """The statements of an Alloy configuration file; AlloySyntaxError if it is not one."""
    return Parser(text).parse_file()
