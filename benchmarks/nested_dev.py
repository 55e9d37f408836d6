"""A dev view with nested type sets, as the UniNER eval files ask them.

    python benchmarks/nested_dev.py training/pool/dev.spacy training/pool/hierarchy.json OUT.spacy
    python -m spacy_uniner student select OUT.spacy v11=shipped --protocol both --min-docs 10

The eval files label each mention with its most specific type and also ask the broader names
(`writer` and `person`), so a broader name asked alone that answers a finer type's mentions is
a false positive. The pool's dev sources ask flat type sets and cannot show this. This writes
the dev passages of every fully annotated source with a fine type of ``hierarchy.json``, each
asked its own types plus the broader names of its fine ones; gold mentions are unchanged, so
a broader name has gold only where a mention is labelled with it. Choose on this dev view,
never on an eval file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import spacy
import typer
from wasabi import msg

from spacy_uniner.data.docs import LABELS_ATTR, SOURCE_KEY, doc_types, is_partial, read_docbin, to_docbin
from spacy_uniner.student.augment import read_hierarchy


def main(
    dev: Path = typer.Argument(..., help="The pool's dev.spacy"),
    hierarchy: Path = typer.Argument(..., help="The pool's hierarchy.json ({fine type: broader type})"),
    output: Path = typer.Argument(..., help="The nested dev view (.spacy)"),
    min_docs: int = typer.Option(10, help="Leave out sources with fewer such passages"),
) -> None:
    parents = read_hierarchy(hierarchy)
    by_source: dict = {}
    added: dict = {}  # per source: how often each broader name is asked where it has no gold
    for doc in read_docbin(dev, spacy.blank("en").vocab):
        types = list(doc_types(doc))
        broader = list(dict.fromkeys(parents[t] for t in types if t in parents and parents[t] not in types))
        if is_partial(doc) or not broader:
            continue
        doc._.set(LABELS_ATTR, types + broader)
        source = doc.user_data.get(SOURCE_KEY)
        by_source.setdefault(source, []).append(doc)
        gold = {e.label_ for e in doc.ents}
        added.setdefault(source, Counter()).update(b for b in broader if b not in gold)
    kept = {s: docs for s, docs in by_source.items() if len(docs) >= min_docs}
    rows = [[s, len(docs), ", ".join(sorted(added[s])), sum(added[s].values())] for s, docs in sorted(kept.items())]
    if not rows:
        msg.fail(f"No source has {min_docs} or more dev passages with a fine type of {hierarchy}.", exits=1)
    to_docbin([d for docs in kept.values() for d in docs]).to_disk(output)
    msg.table(rows, header=["source", "passages", "broader names asked without gold", "times"], divider=True)
    msg.good(f"Wrote {sum(r[1] for r in rows)} passages to {output}")


if __name__ == "__main__":
    typer.run(main)
