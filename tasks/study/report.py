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


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_(empty)_\n"
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
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
