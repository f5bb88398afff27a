"""Print the settings table (docs/reference-settings.md) from ``workers.settings.Settings``
(keeps it true)."""

from __future__ import annotations

from workers.settings import Settings


def table() -> str:
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = "" if field.default is None else str(field.default)
        rows.append(f"| `LIFECYCLES_{name.upper()}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows)


BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def write(doc: str = "docs/reference-settings.md") -> None:
    """Replace the table between the settings markers of ``doc``."""
    from pathlib import Path

    path = Path(doc)
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(table())
