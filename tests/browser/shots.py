"""Screenshots the browser tests leave as artifacts (artifacts/screenshots/*.png, gitignored)."""
from __future__ import annotations

from pathlib import Path

from tests.support.services import REPO

SCREENSHOTS = REPO / "artifacts" / "screenshots"


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("document.querySelector('.toast-host')?.remove()")  # transient notices hide the page
    page.screenshot(path=str(path), full_page=True)
    return path
