"""The HTML report's screenshots in the docs, taken in headless Chromium from a real study.

    .venv/bin/twistune report --storage sqlite:///twistune.db --format html -o /tmp/page.html
    .venv/bin/python docs/screenshots.py /tmp/page.html docs/images

writes `report-SECTION.png` for each section the evidence page shows
(docs/evidence/html_report.md), through the same browser the tests use
(tests/browser.py: Debian's `chromium`). Exits 1 with one line when the page
has a console error or asked for anything outside itself.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import Browser, missing

# Section id -> the file name's part.
SECTIONS = {
    "verdict-section": "verdict",
    "forest-section": "forest",
    "history-section": "history",
    "knobs-section": "knobs",
    "latency-section": "latency",
    "stability-section": "stability",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="a page written by report --format html")
    parser.add_argument("out", type=Path, help="the folder for the PNG files")
    args = parser.parse_args()
    absent = missing()
    if absent is not None:
        print(f"screenshots: {absent}", file=sys.stderr)
        return 1
    with Browser.start() as browser, browser.load(args.page, width=1000) as page:
        if page.errors or page.requests:
            print(f"screenshots: the page failed: {page.errors + page.requests}", file=sys.stderr)
            return 1
        for section, name in SECTIONS.items():
            shot = page.screenshot(args.out / f"report-{name}.png", selector=f"#{section}")
            print(f"{shot.path}: {shot.width_px} x {shot.height_px}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
