"""Headless Debian chromium driven by Playwright: no browser download, the system binary
(installed by `make browser`, which `make test` runs) through ``executable_path``."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page(user_data_dir: Path) -> Iterator[Any]:
    """One page of a fresh headless chromium profile in ``user_data_dir``."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not _safely(check):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(1.0)


def _safely(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return False


def wei(element: Any) -> int:
    """The ``data-wei`` amount of a Playwright locator or element handle."""
    value = element.get_attribute("data-wei")
    if value is None:
        raise AssertionError(f"no data-wei on {element}")
    return int(value)


def screenshot(page: Any, name: str, *dirs: Path) -> None:
    """A full-page PNG of what the page shows now, into every directory given."""
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
