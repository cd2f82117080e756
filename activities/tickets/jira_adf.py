"""Light markdown to Atlassian Document Format (ADF), the rich text Jira Cloud's REST API v3 wants
in `description` (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/).

Understood, and nothing more: paragraphs separated by blank lines (lines within one are kept
apart by hard breaks), `#`…`######` headings, `- ` / `* ` bullet and `1. ` numbered lists (one
item a line, an indented line continues the item), fenced code blocks (```lang), `|` tables (as
code blocks, so their columns stay aligned), `---` rules, and inline `**strong**`, `` `code` ``,
`[text](https://…)` and bare http(s) links. Everything else is text. Two rules of the format hold
for any input: text nodes are never empty, and code blocks carry no marks. `fit_description`
cuts a document to the size Jira takes."""

from __future__ import annotations

import json
import re
from typing import Any

Node = dict[str, Any]
MAX_DESCRIPTION = 32_767  # Jira's limit for a text field; held here against the ADF as JSON, which is longer
TRUNCATED = "(Truncated to fit Jira's size limit: the incident's status holds the full text.)"

_FENCE = re.compile(r"^\s*```\s*([\w+#.-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_ORDERED = re.compile(r"^\s*(\d{1,9})[.)]\s+(.*)$")
_RULE = re.compile(r"^\s*(?:-\s*){3,}$|^\s*(?:\*\s*){3,}$|^\s*(?:_\s*){3,}$")
_INLINE = re.compile(
    r"`(?P<code>[^`]+)`"
    r"|\*\*(?P<strong>[^*]+?)\*\*"
    r"|\[(?P<label>[^\]]+)\]\((?P<href>https?://[^)\s]+)\)"
    r"|(?P<url>https?://[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'\"])"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def to_adf(text: str) -> Node:
    """A valid ADF document (`{"type": "doc", "version": 1, "content": [...]}`) for `text`."""
    lines = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    content: list[Node] = []
    paragraph: list[str] = []
    items: list[list[str]] = []  # the open list's items, each its lines
    list_kind: tuple[str, int] | None = None  # ("bulletList", 0) or ("orderedList", first number)

    def close_paragraph() -> None:
        if paragraph:
            content.append(_paragraph(paragraph))
            paragraph.clear()

    def close_list() -> None:
        nonlocal list_kind
        if list_kind:
            kind, start = list_kind
            node: Node = {
                "type": kind,
                "content": [{"type": "listItem", "content": [_paragraph(item)]} for item in items],
            }
            if kind == "orderedList" and start != 1:
                node["attrs"] = {"order": start}
            content.append(node)
            items.clear()
            list_kind = None

    def close() -> None:
        close_paragraph()
        close_list()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            close()
            end = next(
                (j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```")), len(lines)
            )
            content.append(_code(lines[i + 1 : end], fence.group(1)))
            i = end + 1
            continue
        if line.lstrip().startswith("|"):
            close()
            end = next((j for j in range(i, len(lines)) if not lines[j].lstrip().startswith("|")), len(lines))
            content.append(_code([row.strip() for row in lines[i:end]], ""))
            i = end
            continue
        i += 1
        if not line.strip():
            close()
        elif _RULE.match(line):
            close()
            content.append({"type": "rule"})
        elif heading := _HEADING.match(line):
            close()
            content.append(
                {
                    "type": "heading",
                    "attrs": {"level": len(heading.group(1))},
                    "content": _inline(heading.group(2)),
                }
            )
        elif (bullet := _BULLET.match(line)) or (ordered := _ORDERED.match(line)):
            close_paragraph()
            kind = ("bulletList", 0) if bullet else ("orderedList", int(ordered.group(1)))
            if list_kind is None or list_kind[0] != kind[0]:
                close_list()
                list_kind = kind
            items.append([(bullet or ordered).groups()[-1]])
        elif list_kind and line[:1].isspace():  # an indented line continues the item
            items[-1].append(line.strip())
        else:
            close_list()
            paragraph.append(line.strip())
    close()
    return {"type": "doc", "version": 1, "content": content}


def _paragraph(lines: list[str]) -> Node:
    inline: list[Node] = []
    for line in lines:
        parts = _inline(line)
        if parts:
            if inline:
                inline.append({"type": "hardBreak"})
            inline.extend(parts)
    return {"type": "paragraph", "content": inline}


def _code(lines: list[str], language: str) -> Node:
    node: Node = {"type": "codeBlock"}
    if language:
        node["attrs"] = {"language": language}
    text = "\n".join(lines).strip("\n")
    node["content"] = [{"type": "text", "text": text}] if text else []
    return node


def _inline(text: str) -> list[Node]:
    """Text nodes, each non-empty, with at most the marks a text node may combine."""
    nodes: list[Node] = []

    def add(value: str, *marks: Node) -> None:
        if value:
            nodes.append({"type": "text", "text": value, **({"marks": list(marks)} if marks else {})})

    at = 0
    for match in _INLINE.finditer(text):
        add(text[at : match.start()])
        at = match.end()
        if match["code"] is not None:
            add(match["code"], {"type": "code"})
        elif match["strong"] is not None:
            add(match["strong"], {"type": "strong"})
        elif match["label"] is not None:
            add(match["label"], {"type": "link", "attrs": {"href": match["href"]}})
        else:
            add(match["url"], {"type": "link", "attrs": {"href": match["url"]}})
    add(text[at:])
    return nodes


def adf_size(doc: Node) -> int:
    """The document's size as compact JSON, in characters."""
    return len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))


def fit_description(text: str, limit: int = MAX_DESCRIPTION) -> tuple[Node, bool]:
    """The ADF of `text`, cut (with a closing note) until it fits `limit`; and whether it was cut."""
    doc = to_adf(text)
    if adf_size(doc) <= limit:
        return doc, False
    keep, note = len(text), to_adf(TRUNCATED)["content"]
    while keep > 0:
        keep = int(keep * min(0.9, limit / adf_size(doc)))
        doc = to_adf(text[:keep])
        doc["content"].extend(note)
        if adf_size(doc) <= limit:
            return doc, True
    return {"type": "doc", "version": 1, "content": note}, True
