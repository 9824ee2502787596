"""`make bench`: every benchmark, one after the other, printed as a table.

Run from the repository root: `.venv/bin/python -m benchmarks.run [NAME…]`.
"""

from __future__ import annotations

import sys
from importlib import import_module

ALL = [
    "check_speed",
    "evaluate_speed",
    "peers",
    "columnar_speed",
    "columnar_crossover",
    "rule_scale",
    "tables",
    "compare_speed",
    "analysis_speed",
    "grpc_speed",
    "columns_speed",
    "secure_speed",
    "reload_soak",
    "audit_speed",
    "log_chain",
    "faults",
    "hostile_costs",
    "lsp_speed",
    "studio_speed",
]


def main(names: list[str]) -> None:
    for name in names or ALL:
        module = import_module(f"benchmarks.{name}")
        print(f"## {name}")
        for label, value in module.main():
            print(f"{label:70} {value}")
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
