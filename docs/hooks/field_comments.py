"""Griffe extension: the ``#`` comments of a class's fields become its Attributes table.

The configuration dataclasses document each field with a comment on its line (or a comment
block just above it), nanoGPT style. Griffe reads docstrings only, so without this the API
reference would list the fields with no description. Loaded by mkdocstrings (``extensions`` in
mkdocs.yml); not part of the package.
"""

from __future__ import annotations

import io
import tokenize

import griffe


def _trailing_comment(line: str) -> str | None:
    """The comment at the end of one source line, or None (a '#' inside a string is not one)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    comments = [t.string for t in tokens if t.type == tokenize.COMMENT]
    return comments[-1].lstrip("#").strip() if comments else None


def _comment(attr: griffe.Attribute) -> str:
    """A comment block right above the attribute, then the comments on its line(s)."""
    lines = attr.lines_collection[attr.filepath]
    above, i = [], attr.lineno - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        above.insert(0, lines[i].strip().lstrip("#").strip())
        i -= 1
    inline = [c for c in (_trailing_comment(lines[j])
                          for j in range(attr.lineno - 1, attr.endlineno)) if c]
    return " ".join(above + inline).strip()


class FieldComments(griffe.Extension):
    """List the comment-documented attributes of a class in its docstring's Attributes section
    (one table: name, type, comment), unless the docstring has that section already."""

    def on_class_members(self, *, node, cls: griffe.Class, agent, **kwargs) -> None:
        if cls.filepath is None or (cls.docstring and "Attributes:" in cls.docstring.value):
            return
        entries = []
        for attr in cls.attributes.values():
            if (attr.docstring is not None or attr.name.startswith("_")
                    or attr.lineno is None or attr.endlineno is None):
                continue
            text = _comment(attr)
            if text:
                entries.append(f"    {attr.name}: {text}")
        if not entries:
            return
        section = "Attributes:\n" + "\n".join(entries)
        if cls.docstring is None:
            cls.docstring = griffe.Docstring(section, lineno=cls.lineno, parent=cls)
        else:
            cls.docstring.value = cls.docstring.value.rstrip() + "\n\n" + section
