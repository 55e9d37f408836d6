"""Command line: ``python -m spacy_uniner COMMAND``."""

import typer

app = typer.Typer(help="spacy-uniner: open NER with UniversalNER models.", no_args_is_help=True)

if __name__ == "__main__":
    app()
