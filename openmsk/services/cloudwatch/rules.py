"""Composite alarm rules (PutCompositeAlarm's AlarmRule), as CloudWatch defines them:

    rule  := term (("AND" | "OR") term)*      -- AND binds tighter than OR
    term  := "NOT" term | "(" rule ")" | "TRUE" | "FALSE" | STATE "(" alarm ")"
    STATE := ALARM | OK | INSUFFICIENT_DATA;  alarm := a name or ARN, optionally in double quotes

`parse()` returns a small tree; `children()` the alarm names it mentions; `holds()` its truth
against the current states.
"""
from __future__ import annotations

import re

STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
MAX_LENGTH = 10240
_TOKEN = re.compile(r'\s*(?:(\()|(\))|"([^"]*)"|([^\s()"]+))')


class RuleError(ValueError):
    pass


def _tokens(rule: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    rule = rule.rstrip()
    while pos < len(rule):
        m = _TOKEN.match(rule, pos)
        if not m or m.end() == pos:
            raise RuleError(f"unexpected character at position {pos}")
        pos = m.end()
        if m.group(1):
            out.append(("(", "("))
        elif m.group(2):
            out.append((")", ")"))
        elif m.group(3) is not None:
            out.append(("name", m.group(3)))
        else:
            out.append(("word", m.group(4)))
    return out


def parse(rule: str):
    if not rule or not rule.strip():
        raise RuleError("the rule is empty")
    if len(rule) > MAX_LENGTH:
        raise RuleError(f"the rule is longer than {MAX_LENGTH} characters")
    tokens, pos = _tokens(rule), 0

    def peek():
        return tokens[pos] if pos < len(tokens) else ("end", "")

    def take(kind=None, value=None):
        nonlocal pos
        tok = peek()
        if tok[0] == "end" or (kind and tok[0] != kind) or (value and tok[1] != value):
            raise RuleError(f"expected {value or kind} but found {tok[1] or 'the end of the rule'}")
        pos += 1
        return tok

    def disjunction():
        node = conjunction()
        while peek() == ("word", "OR"):
            take()
            node = ("OR", node, conjunction())
        return node

    def conjunction():
        node = term()
        while peek() == ("word", "AND"):
            take()
            node = ("AND", node, term())
        return node

    def term():
        kind, value = peek()
        if (kind, value) == ("word", "NOT"):
            take()
            return ("NOT", term())
        if kind == "(":
            take()
            node = disjunction()
            take(")")
            return node
        if (kind, value) in (("word", "TRUE"), ("word", "FALSE")):
            take()
            return ("CONST", value == "TRUE")
        if kind == "word" and value in STATES:
            take()
            take("(")
            name = take()
            if name[0] not in ("name", "word"):
                raise RuleError(f"expected an alarm name after {value}(")
            take(")")
            alarm = name[1]
            if alarm.startswith("arn:aws:cloudwatch:"):
                alarm = alarm.split(":alarm:", 1)[-1]
            return ("STATE", value, alarm)
        raise RuleError(f"unexpected {value or 'end of the rule'}")

    try:
        node = disjunction()
    except RecursionError:
        raise RuleError("the rule is nested too deeply") from None
    if pos != len(tokens):
        raise RuleError(f"unexpected {tokens[pos][1]}")
    return node


def children(node) -> set[str]:
    if node[0] == "STATE":
        return {node[2]}
    if node[0] == "CONST":
        return set()
    return set().union(*(children(n) for n in node[1:]))


def holds(node, states: dict[str, str]) -> bool:
    op = node[0]
    if op == "STATE":
        return states.get(node[2]) == node[1]
    if op == "CONST":
        return node[1]
    if op == "NOT":
        return not holds(node[1], states)
    if op == "AND":
        return holds(node[1], states) and holds(node[2], states)
    return holds(node[1], states) or holds(node[2], states)
