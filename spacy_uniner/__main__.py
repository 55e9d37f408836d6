"""Command line: ``python -m spacy_uniner COMMAND``."""

import typer

from .distill.cli import register as register_distill
from .evaluation.cli import register as register_evaluate
from .student.cli import register as register_student
from .training.cli import register as register_train

app = typer.Typer(help="spacy-uniner: open NER with UniversalNER models.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Open named-entity recognition with UniversalNER models."""


register_train(app)
register_distill(app)
register_evaluate(app)
register_student(app)

if __name__ == "__main__":
    app()
