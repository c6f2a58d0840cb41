"""The stored claims (``paper/claims.yaml``) and their verification, with two verdicts per claim.

A claim names the figure it backs, the paper's statement (``paper``; absent for a finding of this
artifact that the paper does not make: NOT IN PAPER; with ``source``, a published claim of another
paper tested beyond this one, counted apart), optionally the paper's approximate value
(``paper_value``, read off its figures), what this artifact checks (``statement``), and the check:
``less: [A, B, ...]``, strictly increasing left to right, at least two entries and at least one of
them a metric. An entry is a number, a metric ``FILE:dotted.key`` (a ``{key}`` inside it is replaced
by that key's value in the same file: ``lrs.{best_lr}.mse@30``), or ``[factor, FILE:KEY]``.

A claim of this paper with numbers from its figures also gives ``paper_values``: the paper's
approximate value of every metric its check reads (``FILE:KEY: number``), so that the check can be
applied to the paper's own numbers (:func:`holds_on_paper_values`; a test requires it to hold), or,
where the figures do not determine the check, a text that starts "not determined" and says why.

``python -m polyground.claims record`` writes, from the metrics the pipeline produced, every metric's
value (``recorded``) and whether the check holds (``holds``); nothing is typed. ``verify`` gives
each claim two verdicts:

- **regenerated** (PASS/FAIL, the exit code): with ``--tolerance reevaluate`` every metric equals its
  recorded value within ``abs + rel * |recorded|`` (:data:`REEVALUATE`, float noise of a re-run
  evaluation); with ``--tolerance retrain`` (a model retrained from scratch: its numbers move) the
  check comes out as recorded, so a retrained model that stays on the in-context plateau fails the
  claims that compare it with the paper's values;
- **paper**: REPRODUCED or NOT REPRODUCED (the check on the regenerated metrics), or NOT IN PAPER.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from .files import write_atomic

CLAIMS = Path("paper/claims.yaml")
REPORTS = Path("reports")
README = Path("README.md")
BEGIN = "<!-- claims table: written by `python -m polyground.claims readme` from the committed metrics -->"
END = "<!-- end of the claims table -->"
MODES = ("reevaluate", "retrain")
REEVALUATE = {"abs": 1e-5, "rel": 1e-3}  # measured: re-evaluation on other threads moves metrics by < 1e-4 relative
Ref = str | float | list


class ClaimsError(ValueError):
    """A malformed claims file."""


def _walk(data: Any, key: str) -> Any:
    parts = key.split(".")
    while parts:  # the longest run of parts that is a key, so keys may hold dots ("0.05")
        size = next((n for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in data), None)
        if size is None:
            raise KeyError(".".join(parts))
        data, parts = data[".".join(parts[:size])], parts[size:]
    return data


def lookup(ref: Ref, root: Path = Path(".")) -> float:
    """The number an entry stands for: a literal, ``FILE:dotted.key`` read from JSON (``{key}``
    replaced by that key's value in the same file), or ``[factor, FILE:KEY]``."""
    if isinstance(ref, list):
        return float(ref[0]) * lookup(ref[1], root)
    if isinstance(ref, (int, float)):
        return float(ref)
    path, _, key = ref.partition(":")
    data: Any = json.loads((root / path).read_text())
    key = re.sub(r"\{([^}]+)\}", lambda m: str(_walk(data, m.group(1))), key)
    return float(_walk(data, key))


def metric_refs(claim: dict) -> list[str]:
    """The metric entries of a claim (``FILE:KEY``, also inside ``[factor, FILE:KEY]``)."""
    return [r[1] if isinstance(r, list) else r for r in claim["less"] if isinstance(r, (str, list))]


def chain(less: list, got: dict[str, float]) -> tuple[list[float], bool]:
    """The values of a check's entries (metrics from ``got``) and whether they strictly increase."""
    values = [r[0] * got[r[1]] if isinstance(r, list) else got[r] if isinstance(r, str) else float(r) for r in less]
    return values, all(a < b for a, b in zip(values, values[1:]))


def holds_on_paper_values(claim: dict) -> bool | None:
    """The claim's check applied to its ``paper_values`` (None: the paper's figures do not determine it)."""
    values = claim["paper_values"]
    return None if isinstance(values, str) else chain(claim["less"], values)[1]


def load_claims(path: Path = CLAIMS) -> list[dict]:
    """The claims of ``path``, each checked for the fields it needs; no check can pass vacuously."""
    try:
        claims = (yaml.safe_load(path.read_text()) or {}).get("claims") or []
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ClaimsError(
            f"{path} is not valid YAML{where} ({getattr(error, 'problem', error)}): quote a text "
            "that holds ': ' or '#', or fix the indentation"
        ) from None
    seen: set[str] = set()
    for claim in claims:
        name = claim.get("id", "?")
        missing = [f for f in ("id", "figure", "statement", "less") if f not in claim]
        if missing or name in seen:
            raise ClaimsError(
                f"{path}: claim {name!r} needs id, figure, statement and less, and a unique id "
                f"(missing: {missing or 'none'})"
            )
        less = claim["less"]
        if not isinstance(less, list) or len(less) < 2 or not metric_refs(claim):
            raise ClaimsError(f"{path}: claim {name!r}: `less` needs at least two entries, one of them a metric")
        values = claim.get("paper_values")
        if values is not None and not (
            isinstance(values, str)
            and values.startswith("not determined")
            or isinstance(values, dict)
            and set(metric_refs(claim)) <= set(values)
        ):
            raise ClaimsError(
                f"{path}: claim {name!r}: `paper_values` must give a number for each metric of its "
                "check, or be a text starting 'not determined' that says why"
            )
        seen.add(name)
    return claims


def _format(x: float) -> str:
    return f"{x:.4g}"


def _name(ref: Ref) -> str:
    if isinstance(ref, list):
        return f"{ref[0]:g} x {_name(ref[1])}"
    return f"{ref:g}" if isinstance(ref, (int, float)) else ref.partition(":")[2]


def check(claim: dict, mode: str, root: Path = Path(".")) -> dict:
    """Both verdicts of one claim; a missing file or key fails it with that reason as ``got``."""
    row = {
        "id": claim["id"],
        "figure": claim["figure"],
        "statement": claim["statement"],
        "source": claim.get("source", ""),
        "paper_value": claim.get("paper_value", ""),
        "check": " < ".join(map(_name, claim["less"])),
    }
    try:
        got = {ref: lookup(ref, root) for ref in metric_refs(claim)}  # each metric read once
        values, holds = chain(claim["less"], got)
        recorded = claim.get("recorded")
        if recorded is None or "holds" not in claim:
            raise ClaimsError("nothing recorded: run `python -m polyground.claims record`")
        if mode == "reevaluate":
            moved = [
                ref
                for ref, value in got.items()
                if ref not in recorded
                or not math.isfinite(value)
                or abs(value - recorded[ref]) > REEVALUATE["abs"] + REEVALUATE["rel"] * abs(recorded[ref])
            ]
            passed, detail = not moved, (f"moved: {', '.join(map(_name, moved))}" if moved else "")
        else:
            passed, detail = holds == claim["holds"], ("" if holds == claim["holds"] else "verdict changed")
        row |= {
            "recorded": " < ".join(
                _format(recorded.get(r, math.nan)) if isinstance(r, str) else _name(r) for r in claim["less"]
            ),
            "got": " < ".join(map(_format, values)),
            "passed": passed,
            "detail": detail,
            "paper": ("REPRODUCED" if holds else "NOT REPRODUCED") if claim.get("paper") else "NOT IN PAPER",
            "holds": holds,
        }
    except (OSError, KeyError, TypeError, ValueError) as error:
        reason = f"missing {error}" if isinstance(error, (OSError, KeyError)) else str(error)
        row |= {
            "recorded": "",
            "got": reason,
            "passed": False,
            "detail": reason,
            "paper": "NOT REPRODUCED" if claim.get("paper") else "NOT IN PAPER",
            "holds": False,
        }
    return row


def stage_outputs(stage: str, root: Path = Path(".")) -> list[str]:
    """The metrics and outputs that ``stage`` of dvc.yaml writes (every metric for figures and report)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    if stage not in stages:
        raise ClaimsError(f"no stage {stage!r} in dvc.yaml: choose one of {', '.join(stages)}")
    if stage.startswith(("figures", "report")):
        return ["metrics/"]
    return [
        next(iter(o)) if isinstance(o, dict) else o
        for kind in ("outs", "metrics", "plots")
        for o in stages[stage].get(kind, [])
    ]


def verify(
    claims: list[dict], mode: str, root: Path = Path("."), only: str | None = None, stage: str | None = None
) -> list[dict]:
    """Rows for every claim, or those whose id or figure contains ``only``, or that read an output of ``stage``."""
    outputs = stage_outputs(stage, root) if stage else []
    chosen = [
        c
        for c in claims
        if (not only or only in c["id"] or only in c["figure"])
        and (not stage or any(ref.split(":")[0].startswith(o) for ref in metric_refs(c) for o in outputs))
    ]
    return [check(c, mode, root) for c in chosen]


def summary(rows: list[dict], mode: str) -> str:
    """The line that counts both columns: the paper's claims and the published claims of other papers apart."""

    def counted(chosen: list[dict], what: str) -> str:
        return (
            f"{sum(r['paper'] == 'REPRODUCED' for r in chosen)} of {len(chosen)} {what} REPRODUCED, "
            f"{sum(r['paper'] == 'NOT REPRODUCED' for r in chosen)} NOT REPRODUCED"
        )

    paper = [r for r in rows if r["paper"] != "NOT IN PAPER" and not r["source"]]
    other = [r for r in rows if r["paper"] != "NOT IN PAPER" and r["source"]]
    beyond = f"; beyond the paper: {counted(other, 'published claims')}" if other else ""
    return (
        f"regenerated ({mode}): {sum(r['passed'] for r in rows)} of {len(rows)} PASS; paper: "
        f"{counted(paper, 'claims of the paper')}{beyond}; {len(rows) - len(paper) - len(other)} NOT IN PAPER"
    )


def markdown(rows: list[dict], mode: str) -> str:
    """The verification table in Markdown."""
    head = ["claim", "figure", "statement", "check", "recorded", "got", "regenerated", "paper value", "paper"]
    lines = [summary(rows, mode) + ".", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["id"],
            r["figure"],
            r["statement"],
            r["check"],
            r["recorded"],
            r["got"],
            "PASS" if r["passed"] else f"FAIL {r['detail']}",
            r["paper_value"],
            r["paper"],
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def readme_table(rows: list[dict], mode: str) -> str:
    """The claims table of the front page: the paper's claims, then other papers' (beyond the paper),
    then this artifact's own findings; each with its figure, our numbers in its check, the paper's value,
    and both verdicts."""
    head = "| claim | figure | check, on our numbers | paper's value | regenerated | paper's claim |"
    groups = [
        ("The paper's claims", [r for r in rows if r["paper"] != "NOT IN PAPER" and not r["source"]]),
        ("Other papers' claims, tested here (beyond the paper)", [r for r in rows if r["source"]]),
        ("Findings of this artifact", [r for r in rows if r["paper"] == "NOT IN PAPER" and not r["source"]]),
    ]
    lines = [summary(rows, mode) + "."]
    for title, chosen in groups:
        lines += ["", f"**{title}**", "", head, "|" + "---|" * 6]
        for r in chosen:
            figure = Path(r["figure"]).stem
            cells = [
                f"{r['statement']} (`{r['id']}`)",
                f"[{figure}]({r['figure']})",
                f"{r['check']}: {r['got']}",
                r["paper_value"] or "",
                "PASS" if r["passed"] else f"FAIL {r['detail']}",
                r["paper"],
            ]
            lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_readme(table: str, path: Path = README) -> None:
    """Replace the README's claims table (between its markers) with ``table``."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ClaimsError(f"{path} lacks the claims table's markers {BEGIN!r} and {END!r}")
    head, _, rest = text.partition(BEGIN)
    write_atomic(path, head + BEGIN + "\n" + table + rest[rest.index(END) :])


def readme_block(path: Path = README) -> str:
    """The claims table now in the README (between its markers)."""
    text = path.read_text()
    return text.partition(BEGIN)[2].partition(END)[0].removeprefix("\n")


def console(rows: list[dict]) -> str:
    """The same table for a terminal: one line per claim, statement and numbers below."""
    width = max(len(r["id"]) for r in rows)
    out = [f"{'claim':<{width}}  regenerated  paper"]
    for r in rows:
        out.append(f"{r['id']:<{width}}  {'PASS' if r['passed'] else 'FAIL':<11}  {r['paper']}")
        out.append(f"    {r['statement']}")
        out.append(
            f"    {r['check']}: {r['got']}"
            + (f" (paper: {r['paper_value']})" if r["paper_value"] else "")
            + (f"; {r['detail']}" if r["detail"] else "")
        )
    return "\n".join(out)


def record(path: Path = CLAIMS, root: Path = Path(".")) -> int:
    """Write every claim's metric values and whether its check holds, from the current metrics."""
    text = (root / path).read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    data = yaml.safe_load(text)
    claims = load_claims(root / path)
    for claim in claims:
        claim["recorded"] = {ref: round(lookup(ref, root), 6) for ref in metric_refs(claim)}
        values = [lookup(ref, root) for ref in claim["less"]]
        claim["holds"] = all(a < b for a, b in zip(values, values[1:]))
    data["claims"] = claims
    write_atomic(root / path, header + yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True))
    return len(claims)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Verify (or record) the stored claims of paper/claims.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="both verdicts of every claim; exit 1 if any regeneration check fails")
    v.add_argument("--tolerance", choices=MODES, default="reevaluate")
    v.add_argument("--only", help="only claims whose id or figure contains this text")
    v.add_argument("--stage", help="only claims that read an output of this stage of dvc.yaml")
    v.add_argument("--claims", type=Path, default=CLAIMS)
    v.add_argument("--root", type=Path, default=Path("."), help="where the metrics files are")
    r = sub.add_parser("record", help="write the metric values and verdicts from the current metrics")
    r.add_argument("--claims", type=Path, default=CLAIMS)
    m = sub.add_parser("readme", help="write the claims table into README.md (between its markers)")
    m.add_argument("--claims", type=Path, default=CLAIMS)
    args = parser.parse_args(argv)
    try:
        if args.command == "record":
            print(f"recorded {record(args.claims)} claims into {args.claims}")
            return
        if args.command == "readme":
            write_readme(readme_table(verify(load_claims(args.claims), "reevaluate"), "reevaluate"))
            print(f"wrote the claims table into {README}")
            return
        rows = verify(load_claims(args.claims), args.tolerance, args.root, args.only, args.stage)
    except (OSError, ClaimsError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if not rows:
        print(f"error: no claim matches {args.only or args.stage!r}", file=sys.stderr)
        raise SystemExit(2)
    print(console(rows))
    reports = args.root / REPORTS
    reports.mkdir(exist_ok=True)
    write_atomic(reports / "claims.md", markdown(rows, args.tolerance))
    write_atomic(reports / "claims.json", json.dumps({"tolerance": args.tolerance, "claims": rows}, indent=1) + "\n")
    failed = [r["id"] for r in rows if not r["passed"]]
    print(f"\n{summary(rows, args.tolerance)}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
