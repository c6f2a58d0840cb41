"""The stored claims (``paper/claims.yaml``), their verdicts decided by intervals, and their regeneration.

A claim names the figure it backs, the paper's statement (``paper``; absent for a finding of this
artifact that the paper does not make: NOT IN PAPER; with ``source``, a published claim of another
paper tested beyond this one, counted apart), optionally the paper's approximate value
(``paper_value``, read off its figures), what this artifact checks (``statement``), and the check:
``less: [A, B, ...]``, strictly increasing left to right, at least two entries and at least one of
them a metric. An entry is a number, a metric ``FILE:dotted.key`` (a ``{key}`` inside it is replaced
by that key's value in the same file: ``lrs.{best_lr}.mse@30``), or ``[factor, FILE:KEY]``. A metric's
interval is ``intervals[KEY]`` of its file (``polyground.intervals``: level ``intervals.level``), where
the stage writes one; ``training_seeds`` says on how many training seeds the claim rests (1 if absent).

A claim of this paper with numbers from its figures also gives ``paper_values``: the paper's
approximate value of every metric its check reads (``FILE:KEY: READING``, a reading of the paper's
figures or the difference, ratio or log2 slope of readings, :func:`polyground.readings.value`), so that
the check can be applied to the paper's own numbers (:func:`holds_on_paper_values`; a test requires it
to hold), or, where the figures do not determine the check, a text that starts "not determined" and
says why.

The verdict (:func:`decide`), from the entries' intervals: REPRODUCED when the check holds over the
whole of them (each entry's interval entirely below the next one's), NOT REPRODUCED when it fails over
the whole of them (some entry's interval entirely at or above the next one's), INCONCLUSIVE otherwise;
for a finding of this artifact HOLDS / DOES NOT HOLD / INCONCLUSIVE. An entry without an interval
counts as its point value, and the row says so.

``python -m polyground.claims record`` writes, from the metrics the pipeline produced, every metric's
value and interval (``recorded``, ``recorded_intervals``) and the verdict; nothing is typed.
``verify`` regenerates (PASS/FAIL, the exit code): with ``--tolerance reevaluate`` every metric equals
its recorded value within ``abs + rel * |recorded|`` (:data:`REEVALUATE`, float noise of a re-run
evaluation); with ``--tolerance retrain`` (a model retrained from scratch: its numbers move) no
decided verdict is reversed (REPRODUCED and NOT REPRODUCED, or HOLDS and DOES NOT HOLD; INCONCLUSIVE
on either side is no reversal). Every count of verdicts that the README, ``docs/`` and the report show
comes from :func:`counts`.
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

from . import readings
from .files import write_atomic
from .paths import METRICS_DIR

CLAIMS = Path("paper/claims.yaml")
REPORTS = Path("reports")
README = Path("README.md")
CLAIMS_DOC = Path("docs/claims.md")
CLAIMS_DOC_HEAD = """# Every claim and its verdict

[Back to the front page](../README.md)

Written by `python -m polyground.claims readme` from `paper/claims.yaml` and the committed metrics: do not
edit. A verdict is decided by the intervals of the numbers its check reads (the level of `intervals` in
`params.yaml`; `src/polyground/intervals.py`): REPRODUCED when the check holds over the whole interval,
NOT REPRODUCED when it fails over the whole interval, INCONCLUSIVE otherwise (HOLDS / DOES NOT HOLD /
INCONCLUSIVE for a finding of this artifact). A claim of the paper is checked by the paper's own
measurement (its counting rule, its view of the queries, the n its figure shows); the paper's values are
approximate readings of its figures. Regeneration (PASS / FAIL: the regenerated numbers equal these within
the re-evaluation tolerance) is what `./reproduce.sh` reports, in `reports/claims.md`.

"""
BEGIN = "<!-- claims table: written by `python -m polyground.claims readme` from the committed metrics -->"
END = "<!-- end of the claims table -->"
MODES = ("reevaluate", "retrain")
REEVALUATE = {"abs": 1e-5, "rel": 1e-3}  # measured: re-evaluation on other threads moves metrics by < 1e-4 relative
Ref = str | float | list


class ClaimsError(ValueError):
    """A malformed claims file."""


def reevaluated(value: float, recorded: float) -> bool:
    """Whether a re-evaluated number equals the recorded one within the re-evaluation tolerance."""
    return math.isfinite(value) and abs(value - recorded) <= REEVALUATE["abs"] + REEVALUATE["rel"] * abs(recorded)


def walk(data: Any, key: str) -> Any:
    """The value at dotted ``key`` in ``data`` (keys may hold dots)."""
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
    key = re.sub(r"\{([^}]+)\}", lambda m: str(walk(data, m.group(1))), key)
    return float(walk(data, key))


def metric_refs(claim: dict) -> list[str]:
    """The metric entries of a claim (``FILE:KEY``, also inside ``[factor, FILE:KEY]``)."""
    return [r[1] if isinstance(r, list) else r for r in claim["less"] if isinstance(r, (str, list))]


def chain(less: list, got: dict[str, float]) -> tuple[list[float], bool]:
    """The values of a check's entries (metrics from ``got``) and whether they strictly increase."""
    values = [r[0] * got[r[1]] if isinstance(r, list) else got[r] if isinstance(r, str) else float(r) for r in less]
    return values, all(a < b for a, b in zip(values, values[1:]))


def interval(ref: Ref, root: Path = Path(".")) -> tuple[float, float] | None:
    """The interval of an entry: a literal's is the point; a metric's is ``intervals[KEY]`` of its file
    (None where the stage writes none); ``[factor, FILE:KEY]`` scales it."""
    if isinstance(ref, list):
        inner = interval(ref[1], root)
        return None if inner is None else tuple(sorted(float(ref[0]) * x for x in inner))
    if isinstance(ref, (int, float)):
        return (float(ref), float(ref))
    path, _, key = ref.partition(":")
    data: Any = json.loads((root / path).read_text())
    key = re.sub(r"\{([^}]+)\}", lambda m: str(walk(data, m.group(1))), key)
    bounds = data.get("intervals", {}).get(key) if isinstance(data, dict) else None
    return None if bounds is None else (float(bounds[0]), float(bounds[1]))


VERDICTS = {  # the verdict by kind of claim: holds over the whole interval, fails over it, neither
    "paper": ("REPRODUCED", "NOT REPRODUCED", "INCONCLUSIVE"),
    "other": ("REPRODUCED", "NOT REPRODUCED", "INCONCLUSIVE"),
    "finding": ("HOLDS", "DOES NOT HOLD", "INCONCLUSIVE"),
}


def kind(claim: dict) -> str:
    """``paper`` (a claim of this paper), ``other`` (another paper's) or ``finding`` (NOT IN PAPER)."""
    return "other" if claim.get("source") else "paper" if claim.get("paper") else "finding"


def decide(bounds: list[tuple[float, float]], claim_kind: str) -> str:
    """The verdict of a check ``b0 < b1 < ...`` from its entries' intervals (:data:`VERDICTS`)."""
    holds, fails, neither = VERDICTS[claim_kind]
    pairs = list(zip(bounds, bounds[1:]))
    if all(a[1] < b[0] for a, b in pairs):
        return holds
    if any(a[0] >= b[1] for a, b in pairs):
        return fails
    return neither


def holds_on_paper_values(claim: dict) -> bool | None:
    """The claim's check applied to its ``paper_values`` (None: the paper's figures do not determine it)."""
    values = claim["paper_values"]
    if isinstance(values, str):
        return None
    return chain(claim["less"], {ref: readings.value(reading) for ref, reading in values.items()})[1]


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
                f"{path}: claim {name!r}: `paper_values` must give a reading for each metric of its "
                "check, or be a text starting 'not determined' that says why"
            )
        for reading in values.values() if isinstance(values, dict) else []:
            try:
                readings.value(reading)
            except (KeyError, ValueError) as error:
                raise ClaimsError(f"{path}: claim {name!r}: {error.args[0]}") from None
        seen.add(name)
    return claims


def _format(x: float) -> str:
    return f"{x:.4g}"


def _name(ref: Ref) -> str:
    if isinstance(ref, list):
        return f"{ref[0]:g} x {_name(ref[1])}"
    return f"{ref:g}" if isinstance(ref, (int, float)) else ref.partition(":")[2]


def _show(value: float, bounds: tuple[float, float] | None) -> str:
    return (
        _format(value)
        if bounds is None or bounds[0] == bounds[1]
        else (f"{_format(value)} [{_format(bounds[0])}, {_format(bounds[1])}]")
    )


def check(claim: dict, mode: str, root: Path = Path(".")) -> dict:
    """One claim's verdict (from its intervals) and regeneration; a missing file or key fails both,
    with that reason as ``got``."""
    claim_kind = kind(claim)
    row = {
        "id": claim["id"],
        "figure": claim["figure"],
        "statement": claim["statement"],
        "source": claim.get("source", ""),
        "kind": claim_kind,
        "paper_value": claim.get("paper_value", ""),
        "check": " < ".join(map(_name, claim["less"])),
        "training_seeds": claim.get("training_seeds", 1),
        "cause": claim.get("cause", ""),
    }
    try:
        got = {ref: lookup(ref, root) for ref in metric_refs(claim)}  # each metric read once
        values, holds = chain(claim["less"], got)
        bounds = [interval(ref, root) for ref in claim["less"]]
        for ref, value, b in zip(claim["less"], values, bounds):
            if b is not None and not b[0] - 1e-9 <= value <= b[1] + 1e-9:
                raise ClaimsError(
                    f"{_name(ref)} = {value:g} lies outside its interval {list(b)}: the metrics file is inconsistent"
                )
        verdict = decide([b if b is not None else (v, v) for b, v in zip(bounds, values)], claim_kind)
        recorded = claim.get("recorded")
        if recorded is None or "verdict" not in claim:
            raise ClaimsError("nothing recorded: run `python -m polyground.claims record`")
        if mode == "reevaluate":
            moved = [ref for ref, value in got.items() if ref not in recorded or not reevaluated(value, recorded[ref])]
            passed, detail = not moved, (f"moved: {', '.join(map(_name, moved))}" if moved else "")
        else:
            undecided = VERDICTS[claim_kind][
                2
            ]  # a retrained model's numbers move: only a decided verdict reversed fails
            same = verdict == claim["verdict"] or undecided in (verdict, claim["verdict"])
            passed, detail = same, ("" if same else f"verdict reversed from {claim['verdict']}")
        row |= {
            "recorded": " < ".join(
                _format(recorded.get(r, math.nan)) if isinstance(r, str) else _name(r) for r in claim["less"]
            ),
            "got": " < ".join(map(_show, values, bounds)),
            "holds": holds,
            "with_interval": all(
                b is not None for r, b in zip(claim["less"], bounds) if not isinstance(r, (int, float))
            ),
            "passed": passed,
            "detail": detail,
            "verdict": verdict,
        }
    except (OSError, KeyError, TypeError, ValueError) as error:
        reason = f"missing {error}" if isinstance(error, (OSError, KeyError)) else str(error)
        row |= {
            "recorded": "",
            "got": reason,
            "holds": False,
            "with_interval": False,
            "passed": False,
            "detail": reason,
            "verdict": VERDICTS[claim_kind][1],
        }
    return row


def stage_outputs(stage: str, root: Path = Path(".")) -> list[str]:
    """The metrics and outputs that ``stage`` of dvc.yaml writes (every metric for figures and report)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    if stage not in stages:
        raise ClaimsError(f"no stage {stage!r} in dvc.yaml: choose one of {', '.join(stages)}")
    if stage.startswith(("figures", "report")):
        return [f"{METRICS_DIR}/"]
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


GROUPS = {  # kind: the table's heading
    "paper": "The paper's claims",
    "other": "Other papers' claims, tested here (beyond the paper)",
    "finding": "Findings of this artifact (NOT IN PAPER)",
}


def counts(rows: list[dict]) -> dict[str, Any]:
    """Every count the README, ``docs/`` and the report show: per kind, its claims and each verdict;
    the rows with an interval on every metric; and the regeneration's passes."""
    out: dict[str, Any] = {"total": len(rows), "passed": sum(r["passed"] for r in rows)}
    out["with_interval"] = sum(r["with_interval"] for r in rows)
    for claim_kind, verdicts in VERDICTS.items():
        chosen = [r for r in rows if r["kind"] == claim_kind]
        out[claim_kind] = {"claims": len(chosen), **{v: sum(r["verdict"] == v for r in chosen) for v in verdicts}}
    return out


def verdict_summary(rows: list[dict]) -> str:
    """The verdicts' counts in one sentence (no regeneration: that is what ``verify`` reports)."""
    c = counts(rows)

    def counted(claim_kind: str, what: str) -> str:
        group = c[claim_kind]
        return f"{what}: " + ", ".join(f"{group[v]} {v}" for v in VERDICTS[claim_kind]) + f" (of {group['claims']})"

    return (
        f"{counted('paper', 'the paper')}; {counted('other', 'other papers, beyond it')}; "
        f"{counted('finding', 'findings of this artifact')}; {c['with_interval']} of {c['total']} decided by "
        "intervals on every number they read, the rest by point values"
    )


def summary(rows: list[dict], mode: str) -> str:
    """The verdicts' counts and the regeneration's."""
    c = counts(rows)
    return f"regenerated ({mode}): {c['passed']} of {c['total']} PASS; {verdict_summary(rows)}"


def _cells(r: dict) -> str:
    return "| " + " | ".join(str(c).replace("|", "/") for c in r) + " |"


def markdown(rows: list[dict], mode: str) -> str:
    """The verification table in Markdown (``reports/claims.md``), with the regeneration column."""
    head = ["claim", "figure", "statement", "check", "recorded", "got", "regenerated", "paper value", "verdict"]
    lines = [summary(rows, mode) + ".", "", _cells(head), "|" + "---|" * len(head)]
    for r in rows:
        regenerated = "PASS" if r["passed"] else f"FAIL {r['detail']}"
        lines.append(
            _cells(
                [
                    r["id"],
                    r["figure"],
                    r["statement"],
                    r["check"],
                    r["recorded"],
                    r["got"],
                    regenerated,
                    r["paper_value"],
                    r["verdict"],
                ]
            )
        )
    return "\n".join(lines) + "\n"


def claims_table(rows: list[dict], level: float) -> str:
    """The full claims table (``docs/claims.md``): the paper's claims, then other papers' (beyond the
    paper), then this artifact's own findings; each with its figure, its check on our numbers (value
    [interval]: true or false), the paper's value, the training seeds it rests on and the verdict."""
    head = ["claim", "figure", f"check, on our numbers [{level:.0%} interval]", "paper's value", "seeds", "verdict"]
    lines = [verdict_summary(rows) + "."]
    for claim_kind, title in GROUPS.items():
        lines += ["", f"## {title}", "", _cells(head), "|" + "---|" * len(head)]
        for r in (r for r in rows if r["kind"] == claim_kind):
            shown = f"{r['check']}: {r['got']}: {'true' if r['holds'] else 'false'}"
            lines.append(
                _cells(
                    [
                        f"{r['statement']} (`{r['id']}`)",
                        f"[{Path(r['figure']).stem}](../{r['figure']})",
                        shown if r["with_interval"] else shown + " (point values: no interval)",
                        r["paper_value"] or "",
                        r["training_seeds"],
                        r["verdict"],
                    ]
                )
            )
    return "\n".join(lines) + "\n"


def readme_table(rows: list[dict], level: float) -> str:
    """The front page's block: the counts, and one row per claim of the paper that is not REPRODUCED
    (the claim, ours with its interval, the paper's value, the cause and its evidence)."""
    head = ["claim of the paper", f"ours [{level:.0%} interval]", "paper", "verdict", "why"]
    lines = [verdict_summary(rows) + " (every claim: [docs/claims.md](docs/claims.md)).", ""]
    lines += ["**Not reproduced, or inconclusive, and why**", "", _cells(head), "|" + "---|" * len(head)]
    for r in rows:
        if r["kind"] == "paper" and r["verdict"] != "REPRODUCED":
            lines.append(
                _cells(
                    [
                        f"{r['statement']} (`{r['id']}`)",
                        f"{r['got']}: {'true' if r['holds'] else 'false'}",
                        r["paper_value"],
                        r["verdict"],
                        r["cause"],
                    ]
                )
            )
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
    out = [f"{'claim':<{width}}  regenerated  verdict"]
    for r in rows:
        out.append(f"{r['id']:<{width}}  {'PASS' if r['passed'] else 'FAIL':<11}  {r['verdict']}")
        out.append(f"    {r['statement']}")
        out.append(
            f"    {r['check']}: {r['got']}"
            + (f" (paper: {r['paper_value']})" if r["paper_value"] else "")
            + (f"; {r['detail']}" if r["detail"] else "")
        )
    return "\n".join(out)


def record(path: Path = CLAIMS, root: Path = Path(".")) -> int:
    """Write every claim's metric values, their intervals and its verdict, from the current metrics."""
    text = (root / path).read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    data = yaml.safe_load(text)
    claims = load_claims(root / path)
    for claim in claims:
        claim.pop("holds", None)
        claim["recorded"] = {ref: round(lookup(ref, root), 6) for ref in metric_refs(claim)}
        bounds = {ref: interval(ref, root) for ref in metric_refs(claim)}
        claim["recorded_intervals"] = {ref: [round(b, 6) for b in v] for ref, v in bounds.items() if v is not None}
        if not claim["recorded_intervals"]:
            del claim["recorded_intervals"]
        claim["verdict"] = check(claim | {"verdict": ""}, "reevaluate", root)["verdict"]
    data["claims"] = claims
    write_atomic(root / path, header + yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True))
    return len(claims)


def interval_level(root: Path = Path(".")) -> float:
    """The intervals' level (``intervals.level`` of params.yaml)."""
    return float(yaml.safe_load((root / "params.yaml").read_text())["intervals"]["level"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Verify (or record) the stored claims of paper/claims.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="every claim's verdict and regeneration; exit 1 if any regeneration fails")
    v.add_argument("--tolerance", choices=MODES, default="reevaluate")
    v.add_argument("--only", help="only claims whose id or figure contains this text")
    v.add_argument("--stage", help="only claims that read an output of this stage of dvc.yaml")
    v.add_argument("--claims", type=Path, default=CLAIMS)
    v.add_argument("--root", type=Path, default=Path("."), help="where the metrics files are")
    r = sub.add_parser("record", help="write the metric values, intervals and verdicts from the current metrics")
    r.add_argument("--claims", type=Path, default=CLAIMS)
    m = sub.add_parser("readme", help="write the claims' block into README.md (between its markers) and docs/claims.md")
    m.add_argument("--claims", type=Path, default=CLAIMS)
    args = parser.parse_args(argv)
    try:
        if args.command == "record":
            print(f"recorded {record(args.claims)} claims into {args.claims}")
            return
        if args.command == "readme":
            rows, level = verify(load_claims(args.claims), "reevaluate"), interval_level()
            write_readme(readme_table(rows, level))
            write_atomic(CLAIMS_DOC, CLAIMS_DOC_HEAD + claims_table(rows, level))
            print(f"wrote the claims' block into {README} and every claim into {CLAIMS_DOC}")
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
