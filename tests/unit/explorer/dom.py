"""A small HTML tree (stdlib html.parser) to read pages the way the DOM contract names
their parts: ``find(page, "#rewards")``, ``node.all("tr", attr="data-address")``."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "col", "area", "base", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        out = "".join(self.parts) + "".join(" " + c.text for c in self.children)
        return " ".join(out.split())

    def walk(self) -> list[Node]:
        out = []
        for c in self.children:
            out.append(c)
            out += c.walk()
        return out

    def all(
        self, tag: str | None = None, *, cls: str | None = None, attr: str | None = None
    ) -> list[Node]:
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.attrs.get("class", "").split())
            and (attr is None or attr in n.attrs)
        ]

    def one(
        self, tag: str | None = None, *, cls: str | None = None, attr: str | None = None
    ) -> Node:
        found = self.all(tag, cls=cls, attr=attr)
        if len(found) != 1:
            raise LookupError(f"{len(found)} matches for {tag} .{cls} [{attr}]")
        return found[0]

    def by_id(self, ident: str) -> Node:
        for n in self.walk():
            if n.attrs.get("id") == ident:
                return n
        raise LookupError(f"no #{ident}")


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    return builder.root
