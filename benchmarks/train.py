"""Training throughput of a config: tokens/s against a baseline in the same run (and MFU on CUDA).

The baseline is the config as written (its precision and per-device batch size, batches in
random order); every other row changes one thing: precision (fp32 / bf16 autocast), batch
size, or batch order (``length``: batches of similar length, as ``group_by_length`` does,
so less padding is computed). Each row starts from the same initial weights and a fresh
AdamW and times forward + backward + optimizer step on the recipe's own data pipeline
(masking, truncation, right padding); tokenization is timed separately. Rows run
round-robin for ``--rounds`` rounds and the median round is reported with the range, so
that a busy shared machine does not favour one row.

    python benchmarks/train.py --config configs/train_tiny.yml --train-file corpus/train.json
    python benchmarks/train.py --config configs/train_llama_1b.yml --train-file ...   # on a GPU

tokens/s counts real (non-padding) tokens. MFU = (6 x non-embedding parameters + attention)
FLOPs per token x real tokens/s, over the GPU's peak dense bf16 FLOP/s (``--peak-tflops`` for
GPUs not listed); compute spent on padding and on activation recomputation does not count.
"""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import typer
from wasabi import msg

from spacy_uniner import protocol
from spacy_uniner.training import (
    ConversationDataset,
    PaddingCollator,
    load_config,
    read_conversations,
)
from spacy_uniner.training.model import load_causal_lm

# Peak dense bf16 tensor-core TFLOP/s by device-name fragment.
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 70.0,
    "L4": 121.0,
}


def batches_in_order(lengths: Sequence[int], batch_size: int, order: str, seed: int) -> List[List[int]]:
    """Random batches, or ``length``: sort megabatches of 50 batches by length, shuffle batches."""
    rng = random.Random(seed)
    indices = list(range(len(lengths)))
    rng.shuffle(indices)
    if order == "length":
        mega = 50 * batch_size
        indices = [
            i for s in range(0, len(indices), mega) for i in sorted(indices[s : s + mega], key=lambda i: -lengths[i])
        ]
    batches = [indices[s : s + batch_size] for s in range(0, len(indices), batch_size)]
    batches = [b for b in batches if len(b) == batch_size]
    if order == "length":
        rng.shuffle(batches)
    return batches


def flops_per_token(model, seq_len: float) -> float:
    """Training FLOPs per token: 6 x non-embedding parameters + attention (PaLM appendix B)."""
    config = model.config
    params = sum(p.numel() for n, p in model.named_parameters() if "embed_tokens" not in n)
    return 6 * params + 12 * config.num_hidden_layers * config.hidden_size * seq_len


def peak_tflops(device_name: str, override: Optional[float]) -> Optional[float]:
    if override is not None:
        return override
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in device_name), None)


def run_variant(model, initial_state, items, batches, precision, device, collator, lr, steps, warmup):
    import torch

    model.load_state_dict(initial_state)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    tokens = padded = 0
    elapsed = 0.0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step, batch_ids in enumerate(batches[: warmup + steps]):
        batch = {k: v.to(device) for k, v in collator([items[i] for i in batch_ids]).items()}
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            elapsed += time.perf_counter() - start
            tokens += int(batch["attention_mask"].sum())
            padded += batch["input_ids"].numel()
    timed = min(steps, len(batches) - warmup)
    memory = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    return {
        "tokens": tokens,
        "padded": padded,
        "seconds": elapsed,
        "steps": timed,
        "loss": loss.item(),
        "memory_gib": memory,
    }


def main(
    config_path: Path = typer.Option(Path("configs/train_tiny.yml"), "--config", exists=True, help="Training config."),
    train_file: Optional[Path] = typer.Option(
        None, "--train-file", help="Conversations (default: the config's data.train_file)."
    ),
    steps: int = typer.Option(8, help="Timed optimizer steps per row and round."),
    warmup: int = typer.Option(2, help="Untimed steps per row and round."),
    rounds: int = typer.Option(3, help="Rows run round-robin this many times; the median round is reported."),
    batch_sizes: str = typer.Option("", help="Batch sizes to compare, e.g. '4,16' (default: half and double)."),
    precisions: str = typer.Option("fp32,bf16", help="Precisions to compare."),
    orders: str = typer.Option("random,length", help="Batch orders to compare."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads."),
    peak: Optional[float] = typer.Option(None, "--peak-tflops", help="Peak bf16 TFLOP/s of the GPU, for MFU."),
) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    overrides = {"data.train_file": str(train_file)} if train_file else {}
    config = load_config(config_path, overrides)
    args = config.training
    records = read_conversations(config.data.train_file)
    texts = [protocol.training_text(r["conversations"]) for r in records]
    tokenizer, model = load_causal_lm(config.model, texts, seed=args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.use_cpu else "cpu")
    model.to(device)
    if args.gradient_checkpointing or args.fsdp_config.get("activation_checkpointing"):
        model.gradient_checkpointing_enable()
    dataset = ConversationDataset(records, tokenizer, config.data.max_length, seed=args.seed, progress=False)
    start = time.perf_counter()
    items = [dataset[i] for i in range(len(dataset))]
    tokenize_seconds = time.perf_counter() - start
    lengths = [len(item["input_ids"]) for item in items]
    collator = PaddingCollator(
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        pad_to_multiple_of=8 if device.type == "cuda" else None,
    )
    initial_state = copy.deepcopy(model.state_dict())

    base_precision = "bf16" if args.bf16 else "fp32"
    base_batch = args.per_device_train_batch_size
    sizes = [int(s) for s in batch_sizes.split(",") if s] or [
        max(1, base_batch // 2),
        base_batch * 2,
    ]
    variants = [(base_precision, base_batch, "random")]
    variants += [(p, base_batch, "random") for p in precisions.split(",") if p != base_precision]
    variants += [(base_precision, b, "random") for b in sizes if b != base_batch]
    variants += [(base_precision, base_batch, o) for o in orders.split(",") if o != "random"]

    device_name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    n_params = sum(p.numel() for p in model.parameters())
    msg.info(
        f"{config_path}: {n_params / 1e6:.1f}M parameters on {device_name}; "
        f"{len(items)} conversations, mean {sum(lengths) / len(lengths):.0f} tokens "
        f"(max_length {config.data.max_length}); "
        f"tokenization {sum(lengths) / tokenize_seconds:,.0f} tokens/s"
    )
    peak_value = peak_tflops(device_name, peak) if device.type == "cuda" else None
    rows, header = (
        [],
        [
            "precision",
            "batch",
            "order",
            "steps",
            "tokens/s",
            "range",
            "padded tokens/s",
            "padding",
            "s/step",
            "vs baseline",
            "final loss",
        ],
    )
    if device.type == "cuda":
        header += ["MFU", "peak GiB"]
    plans = {}
    for precision, batch_size, order in variants:
        batches = batches_in_order(lengths, batch_size, order, seed=args.seed)
        if len(batches) <= warmup:
            msg.warn(f"Skipping batch size {batch_size}: only {len(batches)} batches in the data.")
            continue
        plans[(precision, batch_size, order)] = batches
    # round-robin, so that load from other processes affects every row alike
    results: Dict[tuple, List[dict]] = {key: [] for key in plans}
    out_of_memory = set()
    for _ in range(rounds):
        for key, batches in plans.items():
            if key in out_of_memory:
                continue
            try:
                results[key].append(
                    run_variant(
                        model,
                        initial_state,
                        items,
                        batches,
                        key[0],
                        device,
                        collator,
                        args.learning_rate,
                        steps,
                        warmup,
                    )
                )
            except torch.cuda.OutOfMemoryError:
                out_of_memory.add(key)
                torch.cuda.empty_cache()
    baseline: Optional[float] = None
    for (precision, batch_size, order), runs in results.items():
        if (precision, batch_size, order) in out_of_memory:
            rows.append([precision, batch_size, order, "out of GPU memory"] + [""] * (len(header) - 4))
            continue
        speeds = sorted(r["tokens"] / r["seconds"] for r in runs)
        r = sorted(runs, key=lambda r: r["tokens"] / r["seconds"])[len(runs) // 2]
        speed = r["tokens"] / r["seconds"]
        baseline = baseline or speed
        row = [
            precision,
            batch_size,
            order,
            f"{rounds}x{r['steps']}",
            f"{speed:,.0f}",
            f"{speeds[0]:,.0f}-{speeds[-1]:,.0f}",
            f"{r['padded'] / r['seconds']:,.0f}",
            f"{1 - r['tokens'] / r['padded']:.0%}",
            f"{r['seconds'] / r['steps']:.3f}",
            f"{speed / baseline:.2f}x",
            f"{r['loss']:.3f}",
        ]
        if device.type == "cuda":
            achieved = flops_per_token(model, r["padded"] / (r["steps"] * batch_size)) * speed
            row += [
                f"{achieved / (peak_value * 1e12):.1%}" if peak_value else "n/a (--peak-tflops)",
                f"{r['memory_gib']:.1f}",
            ]
        rows.append(row)
    msg.table(rows, header=header, divider=True)


if __name__ == "__main__":
    typer.run(main)
