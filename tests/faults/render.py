"""Write RELIABILITY.md's fault table from the results of `make faults` (.faults/results.json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.faults.matrix import CASES, RESULTS

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- fault-table:begin -->", "<!-- fault-table:end -->"


def sent(row: dict[str, object]) -> str:
    landed = row["landed"]
    assert isinstance(landed, list)
    parts = [f"{row['sent_during_fault']} during"]
    parts.append(f"{len(landed)} in all, {'=' if row['unverified'] == 0 else '!='} proven")
    if row["duplicates"]:
        parts.append(f"{row['duplicates']} DUPLICATE")
    return "; ".join(parts)


def table(rows: dict[str, dict[str, object]]) -> str:
    lines = [
        "| fault | reports sent (during the fault; in all, vs the proven balance) | first log line | metric during"
        " the fault | /healthz, /readyz seen | good report landed after the fault cleared | daemon peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        row = rows.get(case.name)
        if row is None:
            lines.append(f"| {case.name} | not run | | | | | |")
            continue
        log = str(row["log_line"]).replace("|", "/")
        health = f"{row['healthz']}, {row['readyz']}"
        recovery = f"{row['recovery_seconds']} s" if row["recovery_seconds"] is not None else "NOT RECOVERED"
        rss = f"{row['peak_rss_mb']} MB" if row.get("peak_rss_mb") else "-"
        lines.append(f"| {case.name} | {sent(row)} | `{log}` | `{row['metric']}` | {health} | {recovery} | {rss} |")
    return "\n".join(lines)


def main() -> int:
    rows = json.loads(RESULTS.read_text())
    target = ROOT / "RELIABILITY.md"
    text = target.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    target.write_text(text[:start] + "\n" + table(rows) + "\n" + text[end:])
    print(f"wrote {len(rows)} rows into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
