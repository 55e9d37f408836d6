"""Imports point down: base <- backends <- pipes <- recipes, function-local imports included."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "spacy_uniner"

# The first matching prefix gives a module's layer; a module may import its own layer or below.
LAYERS = [
    ("recipes", ("distill", "training", "evaluation", "student", "__main__")),
    ("pipes", ("pipes",)),
    ("backends", ("backends",)),
    ("base", ("",)),
]
ORDER = [name for name, _ in reversed(LAYERS)]


def layer(module: str) -> str:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") or p == "" for p in prefixes):
            return name
    raise AssertionError(module)


def imports(path: Path, module: str):
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module
    for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1] if node.level > 1 else base
                target = ".".join(filter(None, [".".join(base), node.module or ""]))
                if not node.module:
                    yield from (f"{target}.{alias.name}" for alias in node.names)
                    continue
                yield target
            elif node.module and node.module.startswith("spacy_uniner"):
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("spacy_uniner"))


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        own = layer(module.removeprefix("spacy_uniner").lstrip("."))
        for target in imports(path, module):
            name = target.removeprefix("spacy_uniner").lstrip(".")
            if not target.startswith("spacy_uniner"):
                continue
            if ORDER.index(layer(name)) > ORDER.index(own):
                upward.append(f"{module} ({own}) imports {target} ({layer(name)})")
    assert not upward, "\n".join(upward)


def test_no_module_finds_files_through_its_own_location():
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if "__file__" in path.read_text(encoding="utf8")
    ]
    assert not offenders, offenders
