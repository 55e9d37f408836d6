"""Deferred interaction: how much of the joint student's quality lives in its last layers?

    python benchmarks/deferred_interaction.py NESTED.spacy --model shipped --joint-layers 1,2,3,4 --output deferred.json
    python -m spacy_uniner student bootstrap k2=deferred.json v11=V11.json   # V11.json: `student select --output`

A joint student reads its type names with the text in every encoder layer. Here its first
``L - k`` layers read each type name and the text apart (an attention mask that keeps every
name, and the text, to itself), and only the last ``k`` layers read them together: what a
student whose names' and text's early layers are computed once and shared across queries
could keep. Positions stay the joint input's, so only what attends to what changes. No
training: the released weights as they are, so this measures how much of the joint reading
sits in the last layers (``k`` equal to the encoder's depth is the student itself).

Each dev doc is asked as ``student select`` asks it (all its types together, and each alone,
each system at its best threshold); the records it writes are ``student select --output``'s,
for ``student bootstrap``. Dev data only: never choose on an eval file.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Callable

import srsly
import torch
import typer
from wasabi import msg

from spacy_uniner.data.catalogue import split_numbers
from spacy_uniner.pipes.span.batch import ENT_MARKER, SEP_MARKER
from spacy_uniner.pipes.span.module import SpanTypeModule, resolve_encoder_dtype
from spacy_uniner.student.selection import all_types_examples, load_student, protocol_scores, scores_record

NAME = "universal_ner_span"
app = typer.Typer(no_args_is_help=True)


def deferred_encode(joint_layers: int, ent_id: int, sep_id: int) -> Callable:
    """A ``SpanTypeModule.encode`` whose first layers keep each type name (from its ``<<ENT>>``
    marker) and the text (``[CLS]``, ``<<SEP>>`` and the words) to themselves."""

    def encode(self: SpanTypeModule, input_ids, attention_mask, shape_ids) -> torch.Tensor:
        device_type = input_ids.device.type
        dtype = resolve_encoder_dtype(self.encoder_dtype, device_type)
        encoder = self.encoder
        segment = torch.cumsum((input_ids == ent_id).long(), 1)  # name i: the i-th marker on
        text = torch.cumsum((input_ids == sep_id).long(), 1) > 0
        segment = torch.where(text, torch.zeros_like(segment), segment)  # the text and [CLS]: 0
        valid = attention_mask.bool()[:, None, :]
        apart = (segment[:, :, None] == segment[:, None, :]) & valid
        together = valid.expand_as(apart)
        layers = encoder.encoder.layer
        with torch.autocast(device_type, dtype=dtype, enabled=dtype != torch.float32):
            embeds = encoder.get_input_embeddings()(input_ids)
            if self.shapes is not None:
                embeds = embeds + self.shapes(shape_ids)
            hidden = encoder.embeddings(inputs_embeds=embeds)
            masks = [encoder.get_extended_attention_mask(m.long(), input_ids.shape) for m in (apart, together)]
            for i, layer in enumerate(layers):
                mask = masks[i >= len(layers) - joint_layers]
                hidden = layer(hidden, attention_mask=mask.to(hidden.dtype))[0]
        return self.dropout(hidden.float())

    return encode


@app.command()
def main(
    dev: Path = typer.Argument(..., exists=True, help="Dev .spacy file (e.g. the nested view)"),
    model: str = typer.Option("shipped", help="A joint student pipeline folder, or shipped"),
    joint_layers: str = typer.Option("1,2,3,4", help="Comma-separated numbers of last layers read jointly"),
    min_docs: int = typer.Option(10, min=1, help="Sources with fewer dev docs are left out"),
    output: Path = typer.Option(None, help="Write the records (student select --output's format) here"),
) -> None:
    records = {}
    rows = []
    nlp = load_student(model)
    pipe = nlp.get_pipe(NAME)
    pipe.ensure_model()
    shim = pipe.model.shims[0]
    ent_id, sep_id = shim.tokenizer.convert_tokens_to_ids([ENT_MARKER, SEP_MARKER])
    examples = all_types_examples(dev, nlp)
    for k in split_numbers(joint_layers, int):
        shim._model.encode = types.MethodType(deferred_encode(k, ent_id, sep_id), shim._model)
        by_protocol = protocol_scores(nlp, examples, "both", min_docs=min_docs)
        records[f"k{k}"] = scores_record(by_protocol)
        if output is not None:
            srsly.write_json(output, records)
        scores = [f"{100 * s.macro_f1:.1f} ({s.threshold:g})" for s in by_protocol.values()]
        rows.append((k, *scores, f"{100 * records[f'k{k}']['score']:.2f}"))
    msg.table(rows, header=("last layers joint", *by_protocol, "lower of the two"), divider=True)


if __name__ == "__main__":
    app()
