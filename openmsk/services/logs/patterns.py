"""CloudWatch Logs filter patterns for unstructured events, compiled to an SQL condition.

Supported (CloudWatch's "match terms in unstructured log events"):
  ERROR                   events containing the term (case-sensitive)
  ERROR Exception         both terms (AND)
  "started (kafka"        a quoted phrase, matched as is (`\\"` inside quotes is a quote)
  ?ERROR ?WARN            any of the `?` terms (OR); plain terms are still all required
  ERROR -Exiting          `-term` excludes events containing it
  "" or " "               every event
JSON (`{ $.x = ... }`) and space-delimited (`[a, b]`) patterns are refused with InvalidParameterException.
"""
from __future__ import annotations


class PatternError(ValueError):
    pass


def tokens(pattern: str) -> list[str]:
    out, i, n = [], 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c.isspace():
            i += 1
            continue
        start_prefix = ""
        if c in "?-" and i + 1 < n and not pattern[i + 1].isspace():
            start_prefix, i = c, i + 1
            c = pattern[i]
        if c == '"':
            i += 1
            buf = []
            while i < n and pattern[i] != '"':
                if pattern[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(pattern[i])
                i += 1
            if i >= n:
                raise PatternError("Invalid character(s) in term '\"'")
            i += 1
            out.append(start_prefix + '"' + "".join(buf))
        else:
            j = i
            while j < n and not pattern[j].isspace():
                j += 1
            out.append(start_prefix + pattern[i:j])
            i = j
    return out


def compile_pattern(pattern: str | None, column: str = "e.message") -> tuple[str, list]:
    """-> (SQL condition or "", args)."""
    text = (pattern or "").strip()
    if not text:
        return "", []
    if text[0] in "{[":
        raise PatternError("JSON and space-delimited filter patterns are not supported by openmsk")
    required, optional, excluded = [], [], []
    for tok in tokens(text):
        kind, term = ("", tok)
        if tok[0] in "?-" and len(tok) > 1:
            kind, term = tok[0], tok[1:]
        if term.startswith('"'):
            term = term[1:]
        if not term:
            continue
        {"": required, "?": optional, "-": excluded}[kind].append(term)
    conds, args = [], []
    for term in required:
        conds.append(f"instr({column}, ?) > 0")
        args.append(term)
    if optional:
        conds.append("(" + " OR ".join(f"instr({column}, ?) > 0" for _ in optional) + ")")
        args += optional
    for term in excluded:
        conds.append(f"instr({column}, ?) = 0")
        args.append(term)
    return " AND ".join(conds), args


def matches(pattern: str | None, message: str) -> bool:
    """The same rule in Python (tests, and the shipper's own checks)."""
    text = (pattern or "").strip()
    if not text:
        return True
    required, optional, excluded = [], [], []
    for tok in tokens(text):
        kind, term = ("", tok)
        if tok[0] in "?-" and len(tok) > 1:
            kind, term = tok[0], tok[1:]
        term = term[1:] if term.startswith('"') else term
        if term:
            {"": required, "?": optional, "-": excluded}[kind].append(term)
    return (all(t in message for t in required) and (not optional or any(t in message for t in optional))
            and not any(t in message for t in excluded))
