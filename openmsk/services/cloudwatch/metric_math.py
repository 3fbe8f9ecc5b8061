"""A small subset of CloudWatch metric math for GetMetricData `Expression` queries: + - * /, numbers,
parentheses, query ids, and SUM/AVG/MIN/MAX over a list of series, e.g. `m1 + m2` or
`SUM([m1, m2])` (MSK's recommended CPU alarm is `CpuUser + CpuSystem`). Series combine point-wise on
their common timestamps; a scalar applies to every point.
"""
from __future__ import annotations

import re

from ...api.core import ServiceException

_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(.))")
MAX_LENGTH = 2048
FUNCTIONS = {"SUM": sum, "AVG": lambda xs: sum(xs) / len(xs), "MIN": min, "MAX": max}

Value = "float | dict[float, float]"


def _error(expression: str, why: str) -> ServiceException:
    return ServiceException("ValidationError", f"Error in expression '{expression}': {why}", status_code=400)


def _combine(a, b, op):
    if isinstance(a, dict) and isinstance(b, dict):
        return {t: op(a[t], b[t]) for t in a.keys() & b.keys()}
    if isinstance(a, dict):
        return {t: op(v, b) for t, v in a.items()}
    if isinstance(b, dict):
        return {t: op(a, v) for t, v in b.items()}
    return op(a, b)


def _div(x, y):
    return x / y if y else float("nan")


def evaluate(expression: str, series: dict[str, dict[float, float]]):
    tokens = [t for t in _TOKEN.findall(expression) if any(t)]
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else ("", "", "")

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1] if pos <= len(tokens) else ("", "", "")

    def expr():
        value = term()
        while peek()[2] in ("+", "-"):
            op = take()[2]
            value = _combine(value, term(), (lambda x, y: x + y) if op == "+" else (lambda x, y: x - y))
        return value

    def term():
        value = factor()
        while peek()[2] in ("*", "/"):
            op = take()[2]
            value = _combine(value, factor(), (lambda x, y: x * y) if op == "*" else _div)
        return value

    def factor():
        number, name, sym = take() if pos < len(tokens) else ("", "", "")
        if number:
            return float(number)
        if sym == "-":
            return _combine(-1.0, factor(), lambda x, y: x * y)
        if sym == "(":
            value = expr()
            if take()[2] != ")":
                raise _error(expression, "missing ')'")
            return value
        if name.upper() in FUNCTIONS and peek()[2] == "(":
            take()
            bracket = peek()[2] == "["
            if bracket:
                take()
            args = [expr()]
            while peek()[2] == ",":
                take()
                args.append(expr())
            if bracket and take()[2] != "]":
                raise _error(expression, "missing ']'")
            if take()[2] != ")":
                raise _error(expression, "missing ')'")
            fn = FUNCTIONS[name.upper()]
            dicts = [a for a in args if isinstance(a, dict)]
            if not dicts:
                return fn(args)
            stamps = set.intersection(*(set(d) for d in dicts))
            return {t: fn([a[t] if isinstance(a, dict) else a for a in args]) for t in stamps}
        if name:
            if name not in series:
                raise _error(expression, f"Unrecognized identifier '{name}'")
            return series[name]
        raise _error(expression, "syntax error")

    if len(expression) > MAX_LENGTH:
        raise _error(expression[:40] + "...", f"longer than {MAX_LENGTH} characters")
    try:
        value = expr()
    except RecursionError:
        raise _error(expression[:40] + "...", "nested too deeply")
    if pos != len(tokens):
        raise _error(expression, "syntax error")
    return value
