"""Benchmarks for `make bench`: they print costs as ratios against a floor, they never assert.

`python -m tests.bench` runs every benchmark in BENCHMARKS; `python -m tests.bench directory`
runs the named ones. Each benchmark is a module here with a `run(report)` function.

Environment:
- BENCH_DATABASE_URL: run against this database (e.g. PostgreSQL) instead of a temporary SQLite
  file. It must be a scratch database: its tables are emptied first.
- BENCH_SCALE: multiply data sizes by this factor (default 1; e.g. 0.1 for a quick try).
"""

BENCHMARKS: dict[str, str] = {
    "directory": "tests.bench.directory",
    "imports": "tests.bench.imports",
    "invoices": "tests.bench.invoices",
    "invitations": "tests.bench.invitations",
    "notices": "tests.bench.notices",
    "notifications": "tests.bench.notifications",
    "oidc": "tests.bench.oidc",
    "orders": "tests.bench.orders",
    "reconciliation": "tests.bench.reconciliation",
    "scorecards": "tests.bench.scorecards",
    "shipping": "tests.bench.shipping",
    "statements": "tests.bench.statements",
}

# Names that stand for several benchmarks, as the issues write them: `make bench statements` is
# the statement board and the scorecards (issue 14).
GROUPS: dict[str, list[str]] = {
    "statements": ["statements", "scorecards"],
    # Issue 22's figures (invitations, mail before activation) go with the notifications.
    "notifications": ["notifications", "invitations"],
}
