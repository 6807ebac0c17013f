"""Run the benchmarks (all, or those named on the command line) and write bench-results/latest.json."""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

from tests.bench import BENCHMARKS, GROUPS
from tests.bench.common import LABEL_WIDTH, RESULTS_FILE, Report, machine_facts


def _print_header(facts: dict[str, Any]) -> None:
    print("supplychain bench: costs as ratios against a floor (no timing is asserted)")
    for key, value in facts.items():
        print(f"  {key + ':':<{LABEL_WIDTH}} {value}")
    print(flush=True)


def main(argv: list[str]) -> int:
    """Run the selected benchmarks; exit 2 for unknown names, 1 if one of them failed."""
    names = list(dict.fromkeys(part for name in argv for part in GROUPS.get(name, [name])))
    names = names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    facts = machine_facts()
    _print_header(facts)
    output: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": facts,
        "benchmarks": {},
    }
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        report = Report(name)
        start = time.perf_counter()
        try:
            importlib.import_module(BENCHMARKS[name]).run(report)
        except Exception:  # report it and go on with the next benchmark
            traceback.print_exc()
            failed.append(name)
            report.results["error"] = traceback.format_exc()
        elapsed = time.perf_counter() - start
        report.results["runtime_seconds"] = elapsed
        report.results["warnings"] = report.warnings
        output["benchmarks"][name] = report.results
        for warning in report.warnings:
            print(f"  WARNING: {warning}")
        print(f"  {'runtime:':<{LABEL_WIDTH}} {elapsed:.1f} s\n", flush=True)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(output, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results written to {RESULTS_FILE}")
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
