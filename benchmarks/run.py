"""`make bench`: every benchmark, one after the other, printed as a table."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import check_speed


def main() -> None:
    for module in (check_speed,):
        print(f"## {module.__name__}")
        for name, value in module.main():
            print(f"{name:70} {value}")
        print()


if __name__ == "__main__":
    main()
