"""What a study (a paper's claim check) returns: a result table, claim verdicts and figures. Plain Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Claim:
    """One checkable statement: what the paper says, what we measured, and whether it held."""

    id: str
    claim: str
    measured: Any
    expected: str
    verdict: Literal["pass", "fail"]

    @classmethod
    def check(cls, id: str, claim: str, measured: Any, expected: str, holds: bool) -> Claim:
        return cls(id=id, claim=claim, measured=measured, expected=expected, verdict="pass" if holds else "fail")


@dataclass
class StudyReport:
    title: str
    table: list[dict[str, Any]]
    claims: list[Claim]
    figures: dict[str, Any] = field(default_factory=dict)  # name → matplotlib Figure
    notes: str = ""


def significant(value: Any, digits: int = 4) -> Any:
    """``value`` with every float (also inside lists and dicts) rounded to ``digits`` significant digits, for
    tables people read (0.0009193880617735928 -> 0.0009194); the stored JSON keeps full precision."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: significant(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(significant(v, digits) for v in value)
    return value


def cell_text(value: Any) -> str:
    """How a table shows one value: floats to 4 significant digits, containers with rounded members."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(significant(value))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_(empty)_\n"
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell_text(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def report_markdown(report: StudyReport) -> str:
    parts = [f"# {report.title}\n", markdown_table(report.table), "\n## Claims\n"]
    parts.append(
        markdown_table(
            [{"claim": c.claim, "measured": c.measured, "expected": c.expected, "verdict": c.verdict} for c in report.claims]
        )
    )
    if report.notes:
        parts.append(f"\n{report.notes}\n")
    return "\n".join(parts)
