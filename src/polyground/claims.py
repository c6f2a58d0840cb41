"""The stored claims (``paper/claims.yaml``) and their verification against regenerated metrics.

A claim names the figure it backs, a one-line statement, and one check on the metrics files:

- ``value: FILE:KEY`` with ``expected`` and a tolerance per mode (``reevaluate``: float noise only,
  ``retrain``: the seed-to-seed spread): passes when ``|got - expected| <= abs + rel * |expected|``;
- ``less: [A, B, ...]``: strictly increasing left to right (each entry a ``FILE:KEY`` or a number),
  the form for orderings, signs (``[0, slope]``) and monotone trends.

``KEY`` is a dotted path into the JSON file (``model.mse@10``). Expected values and retrain
tolerances are never typed: ``python -m polyground.claims record`` writes them from the metrics the
pipeline produced and from ``metrics/seed_spread.json``. ``python -m polyground.claims verify``
prints the table (claim, figure, statement, expected, got, tolerance, PASS/FAIL), writes it to
``reports/claims.md`` and ``reports/claims.json``, and exits 1 if any claim fails.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import yaml

from .checkpoint import write_atomic

CLAIMS = Path("paper/claims.yaml")
SEED_SPREAD = Path("metrics/seed_spread.json")
REPORTS = Path("reports")
MODES = ("reevaluate", "retrain")
RETRAIN_SPREAD_FACTOR = 2.0  # retrain tolerance = this x the relative range across seeds


class ClaimsError(ValueError):
    """A malformed claims file."""


def lookup(ref: str | float, root: Path = Path(".")) -> float:
    """The number a reference stands for: a literal, or ``FILE:dotted.key`` read from JSON."""
    if isinstance(ref, (int, float)):
        return float(ref)
    path, _, key = ref.partition(":")
    data: Any = json.loads((root / path).read_text())
    parts = key.split(".")
    while parts:  # the longest run of parts that is a key, so keys may hold dots ("0.05")
        size = next((n for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in data), None)
        if size is None:
            raise KeyError(".".join(parts))
        data, parts = data[".".join(parts[:size])], parts[size:]
    return float(data)


def load_claims(path: Path = CLAIMS) -> list[dict]:
    """The claims of ``path``, each checked for the fields it needs."""
    claims = (yaml.safe_load(path.read_text()) or {}).get("claims") or []
    seen: set[str] = set()
    for claim in claims:
        name = claim.get("id", "?")
        missing = [f for f in ("id", "figure", "statement") if f not in claim]
        if missing or ("value" in claim) == ("less" in claim) or name in seen:
            raise ClaimsError(
                f"{path}: claim {name!r} needs id, figure, statement and exactly one of value/less, "
                f"and a unique id (missing: {missing or 'none'})"
            )
        seen.add(name)
    return claims


def _format(x: float) -> str:
    return f"{x:.4g}"


def check(claim: dict, mode: str, root: Path = Path(".")) -> dict:
    """Evaluate one claim; a missing file or key fails the claim with that reason as ``got``."""
    row = {"id": claim["id"], "figure": claim["figure"], "statement": claim["statement"]}
    try:
        if "value" in claim:
            expected = claim.get("expected")
            tol = claim.get("tolerance", {}).get(mode)
            if expected is None or tol is None:
                raise ClaimsError(f"no expected value or {mode} tolerance: run `python -m polyground.claims record`")
            got = lookup(claim["value"], root)
            allowed = tol.get("abs", 0.0) + tol.get("rel", 0.0) * abs(expected)
            passed = math.isfinite(got) and abs(got - expected) <= allowed
            row |= {"expected": _format(expected), "got": _format(got),
                    "tolerance": " + ".join(f"{k} {v:g}" for k, v in tol.items()), "passed": passed}
        else:
            values = [lookup(ref, root) for ref in claim["less"]]
            passed = all(a < b for a, b in zip(values, values[1:]))
            names = [ref if isinstance(ref, (int, float)) else ref.partition(":")[2] for ref in claim["less"]]
            row |= {"expected": " < ".join(map(str, names)), "got": " < ".join(map(_format, values)),
                    "tolerance": "ordering", "passed": passed}
    except (OSError, KeyError, TypeError, ValueError) as error:
        reason = f"missing {error}" if isinstance(error, (OSError, KeyError)) else str(error)
        row |= {"expected": str(claim.get("expected", "")), "got": reason, "tolerance": "", "passed": False}
    return row


def verify(claims: list[dict], mode: str, root: Path = Path("."), only: str | None = None) -> list[dict]:
    """Rows for every claim (or those whose id or figure contains ``only``)."""
    chosen = [c for c in claims if not only or only in c["id"] or only in c["figure"]]
    return [check(c, mode, root) for c in chosen]


def markdown(rows: list[dict], mode: str) -> str:
    """The verification table in Markdown."""
    head = ["claim", "figure", "statement", "expected", "got", "tolerance", "result"]
    lines = [f"Claims verified with the {mode} tolerances: "
             f"{sum(r['passed'] for r in rows)} of {len(rows)} pass.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["id"], r["figure"], r["statement"], r["expected"], r["got"], r["tolerance"],
                 "PASS" if r["passed"] else "FAIL"]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def console(rows: list[dict]) -> str:
    """The same table for a terminal: one line per claim, statement below."""
    widths = [max([len(h)] + [len(str(r[k])) for r in rows]) for h, k in
              (("claim", "id"), ("expected", "expected"), ("got", "got"), ("tolerance", "tolerance"))]
    fmt = "{:<%d}  {:<%d}  {:<%d}  {:<%d}  {}" % tuple(widths)
    out = [fmt.format("claim", "expected", "got", "tolerance", "result")]
    for r in rows:
        out.append(fmt.format(r["id"], r["expected"], r["got"], r["tolerance"], "PASS" if r["passed"] else "FAIL"))
        out.append(f"    {r['figure']}: {r['statement']}")
    return "\n".join(out)


def record(path: Path = CLAIMS, spread_path: Path = SEED_SPREAD, root: Path = Path(".")) -> int:
    """Write expected values (from the metrics) and retrain tolerances (from the seed spread)."""
    text = (root / path).read_text()
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    data = yaml.safe_load(text)
    claims = load_claims(root / path)
    spread = json.loads((root / spread_path).read_text()) if (root / spread_path).exists() else {}
    for claim in claims:
        if "value" not in claim:
            continue
        claim["expected"] = round(lookup(claim["value"], root), 6)
        tolerance = claim.setdefault("tolerance", {})
        tolerance.setdefault("reevaluate", {"abs": 1e-5, "rel": 1e-3})
        file, _, key = claim["value"].partition(":")
        if key in spread.get(file, {}):
            rel = math.ceil(100 * RETRAIN_SPREAD_FACTOR * spread[file][key]["relative_range"]) / 100
            tolerance["retrain"] = {"abs": tolerance["reevaluate"]["abs"], "rel": max(rel, 0.01)}
    data["claims"] = claims
    write_atomic(root / path, header + yaml.safe_dump(data, sort_keys=False, width=110, allow_unicode=True))
    return len(claims)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Verify (or record) the stored claims of paper/claims.yaml")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check every claim against the metrics; exit 1 on any failure")
    v.add_argument("--tolerance", choices=MODES, default="reevaluate")
    v.add_argument("--only", help="only claims whose id or figure contains this text")
    v.add_argument("--claims", type=Path, default=CLAIMS)
    v.add_argument("--root", type=Path, default=Path("."), help="where the metrics files are")
    sub.add_parser("record", help="write expected values and retrain tolerances from the current metrics")
    args = parser.parse_args(argv)
    try:
        if args.command == "record":
            print(f"recorded {record()} claims into {CLAIMS}")
            return
        rows = verify(load_claims(args.claims), args.tolerance, args.root, args.only)
    except (OSError, ClaimsError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if not rows:
        print(f"error: no claim matches {args.only!r}", file=sys.stderr)
        raise SystemExit(2)
    print(console(rows))
    reports = args.root / REPORTS
    reports.mkdir(exist_ok=True)
    write_atomic(reports / "claims.md", markdown(rows, args.tolerance))
    write_atomic(reports / "claims.json", json.dumps({"tolerance": args.tolerance, "claims": rows}, indent=1) + "\n")
    failed = [r["id"] for r in rows if not r["passed"]]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} claims pass ({args.tolerance} tolerances)"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
