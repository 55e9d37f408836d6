"""Reading a pool's .spacy file: `read_docbin` against spaCy's `DocBin.get_docs` (the baseline).

    python benchmarks/read_pool.py training/pool/train.spacy --limit 20000

Both read the same first ``--limit`` docs in one process; the table gives docs/s for each and
whether every doc's words, entities and user data are the same.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from spacy_uniner.data.docs import read_docbin


def _signature(doc) -> tuple:
    ents = tuple((e.start, e.end, e.label_) for e in doc.ents)
    return tuple(t.text for t in doc), ents, repr(sorted(doc.user_data.items(), key=repr))


def main(
    path: Path = typer.Argument(..., help="A .spacy file, e.g. a pool's train.spacy"),
    limit: int = typer.Option(20000, help="Docs read by each reader (0: all)"),
) -> None:
    vocab = spacy.blank("en").vocab
    readers = {
        "DocBin.get_docs (baseline)": lambda: DocBin().from_disk(path).get_docs(vocab),
        "read_docbin": lambda: read_docbin(path, vocab),
    }
    rows, signatures, times = [], [], []
    for name, read in readers.items():
        start = time.perf_counter()
        docs = list(itertools.islice(read(), limit or None))
        seconds = time.perf_counter() - start
        signatures.append([_signature(d) for d in docs])
        times.append(seconds)
        rows.append([name, len(docs), f"{seconds:.1f}", f"{len(docs) / seconds:,.0f}"])
    same = signatures[0] == signatures[1]
    for row, seconds in zip(rows, times):
        row.append(f"{times[0] / seconds:.1f}x")
    msg.table(rows, header=["reader", "docs", "seconds", "docs/s", "speed-up"], divider=True)
    (msg.good if same else msg.fail)(f"Same docs, entities and user data: {same}")


if __name__ == "__main__":
    typer.run(main)
