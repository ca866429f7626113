"""A real headless Chromium driven by Selenium for the dashboard's tests, with the page
checks they share: screenshots written as test artifacts and checked for content, and an
axe-core accessibility run (``axe-selenium-python`` ships axe-core, MPL-2.0).

No Chromium here skips the browser tests, except under ``CI=true``, where it fails them
(``.ci/run`` installs Debian's ``chromium`` and ``chromium-driver``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("HWNAS_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "ui"
WINDOW = (1280, 1000)
WAIT_S = 30.0
T = TypeVar("T")


def _missing(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium session (Selenium's ``webdriver.Chrome``)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        _missing(f"selenium is not installed: {err}")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        _missing("no chromium/chromedriver on PATH (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, what: str, probe: Callable[[Any], T], timeout_s: float = WAIT_S) -> T:
    """``probe(driver)`` once truthy; a failure naming ``what`` and the page otherwise."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    # A page that reloads itself can replace an element between finding and reading it;
    # Chromium sometimes says so as a generic error about a node outside the document.
    def probe_reload_safe(d: Any) -> T:
        try:
            return probe(d)
        except WebDriverException as err:
            if "does not belong to the document" in str(err):
                raise StaleElementReferenceException(str(err)) from err
            raise

    ignored = [NoSuchElementException, StaleElementReferenceException]
    waiting = WebDriverWait(driver, timeout_s, poll_frequency=0.2, ignored_exceptions=ignored)
    try:
        return waiting.until(probe_reload_safe)  # type: ignore[no-any-return]
    except TimeoutException:
        body = driver.find_element("tag name", "body").text[:2000]
        raise AssertionError(
            f"{what} not within {timeout_s:.0f}s; page {driver.current_url}:\n{body}"
        ) from None


def screenshot(driver: Any, name: str) -> Path:
    """The full page as ``test-artifacts/ui/<name>.png``, checked: window-sized, more than a
    few colours (text and tables drawn, not a blank or error-free white page), over 10 kB."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    with Image.open(path) as image:
        assert image.size[0] >= WINDOW[0] * 0.9 and image.size[1] >= WINDOW[1] * 0.5, image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, f"{path}: {len(colours or [])} colours"
    assert path.stat().st_size > 10_000, path
    return path


def accessibility_violations(driver: Any) -> list[str]:
    """axe-core's serious and critical violations on the current page (labels, contrast,
    names of controls, ...), one line each."""
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
