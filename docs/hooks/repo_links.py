"""MkDocs hook: the site keeps the relative links that make the pages read on GitHub.

Pages link to files outside ``docs/`` (``../data/fit_width/fit_width.png``, ``../README.md``).
MkDocs only knows files inside ``docs/`` and its strict build rejects such links. This hook

* publishes each linked file of the repository under ``repository/<its path>`` (a Markdown file
  becomes a page, anything else is copied as it is) and rewrites the link to point there;
* publishes the README as the page ``repository/README.md``; its links (relative to the
  repository root, e.g. ``docs/fitting.md``) are pointed at the site's pages and files;
* fills the nav entry ``Tutorials: tutorials/`` with every ``docs/tutorials/*.py`` notebook, in
  file-name order, so that a new tutorial needs no edit here.

A link to a file that exists nowhere is left alone, so the strict build still fails on it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

PUBLISHED = "repository"
# [text](target) and ![alt](target), target without a scheme, an absolute path or a bare anchor
_LINK = re.compile(r"(!?\[[^\]\n]*\]\()([^)\s#]+)((?:#[^)\s]*)?\))")
_FENCE = re.compile(r"^(```|~~~)")


def _outside_targets(text: str) -> list[str]:
    """The relative link targets of a Markdown text, skipping fenced code blocks."""
    targets, in_fence = [], False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            in_fence = not in_fence
            continue
        if not in_fence:
            targets += [m.group(2) for m in _LINK.finditer(line)]
    return [t for t in targets if "://" not in t and not t.startswith(("/", "mailto:"))]


def _page_dir(docs_dir: Path, src_uri: str) -> Path:
    """The folder a page's relative links start from: its real folder in the repository."""
    if src_uri.startswith(PUBLISHED + "/"):
        return docs_dir.parent / posixpath.dirname(src_uri[len(PUBLISHED) + 1:])
    return docs_dir / posixpath.dirname(src_uri)


def _site_uri(docs_dir: Path, page_src_uri: str, target: str) -> str | None:
    """Where a link's target lives in the site (a src_uri) when it is a file of the
    repository; None when it is not one, or when the plain link already works."""
    docs, repo = docs_dir.resolve(), docs_dir.parent.resolve()
    path = (_page_dir(docs_dir, page_src_uri) / target).resolve()
    if not path.is_file() or not path.is_relative_to(repo):
        return None
    if path.is_relative_to(docs):
        if not page_src_uri.startswith(PUBLISHED + "/"):
            return None
        return path.relative_to(docs).as_posix()
    return f"{PUBLISHED}/{path.relative_to(repo).as_posix()}"


def on_config(config):
    """Expand ``Tutorials: tutorials/`` in the nav into the tutorial notebooks."""
    docs_dir = Path(config["docs_dir"])
    tutorials = sorted(p.relative_to(docs_dir).as_posix()
                       for p in (docs_dir / "tutorials").glob("*.py"))
    for entry in config["nav"] or []:
        if isinstance(entry, dict):
            for title, value in entry.items():
                if value == "tutorials/":
                    entry[title] = tutorials
    return config


def on_files(files: Files, config) -> Files:
    """Add every repository file a page links to (outside docs/) to the site."""
    docs_dir = Path(config["docs_dir"])
    repo = docs_dir.parent.resolve()
    wanted: set[str] = set()
    for page in [f for f in files if f.src_uri.endswith(".md")]:
        text = Path(page.abs_src_path).read_text(encoding="utf-8")
        for target in _outside_targets(text):
            uri = _site_uri(docs_dir, page.src_uri, target)
            if uri is not None and uri.startswith(PUBLISHED + "/"):
                wanted.add(uri[len(PUBLISHED) + 1:])
    # the README is a nav entry, linked or not, and its own links to the repository's files
    wanted.add("README.md")
    for target in _outside_targets((repo / "README.md").read_text(encoding="utf-8")):
        uri = _site_uri(docs_dir, f"{PUBLISHED}/README.md", target)
        if uri is not None and uri.startswith(PUBLISHED + "/"):
            wanted.add(uri[len(PUBLISHED) + 1:])
    for rel in sorted(wanted):
        files.append(File.generated(config, f"{PUBLISHED}/{rel}", abs_src_path=str(repo / rel)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Point links to files outside docs/ at their published copies."""
    docs_dir = Path(config["docs_dir"])
    src_uri = page.file.src_uri

    def rewrite(match: re.Match) -> str:
        uri = _site_uri(docs_dir, src_uri, match.group(2))
        if uri is None:
            return match.group(0)
        relative = posixpath.relpath(uri, posixpath.dirname(src_uri) or ".")
        return match.group(1) + relative + match.group(3)

    out, in_fence = [], False
    for line in markdown.splitlines(keepends=True):
        if _FENCE.match(line.lstrip()):
            in_fence = not in_fence
        out.append(line if in_fence else _LINK.sub(rewrite, line))
    return "".join(out)
