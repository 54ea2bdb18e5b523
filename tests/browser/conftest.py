"""Browser fixtures: the service under uvicorn on a free loopback port, and headless Chromium from
the Debian packages driven by Selenium.

Selenium is pointed at ``/usr/bin/chromedriver`` and ``/usr/bin/chromium`` explicitly, so Selenium
Manager never runs (it would try to download a driver and a browser). A machine without them skips
these tests, and only these, saying how to install them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service needs the 'serve' extra")

from ..service.conftest import serving  # noqa: F401  (the tests here import it from this module)

INSTALL_HINT = (
    "headless Chromium is not installed: on Debian/Ubuntu run "
    "`apt-get install -y chromium chromium-driver` (as root; `make browser` does it), "
    "or set SIMMATCH_CHROMIUM and SIMMATCH_CHROMEDRIVER to their paths"
)
WAIT_S = 60  # the built-in model on a busy two-core machine can take a while


def browser_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver), or None when either is missing."""
    browser = os.environ.get("SIMMATCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    driver = (
        os.environ.get("SIMMATCH_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    )
    if Path(browser).is_file() and Path(driver).is_file():
        return browser, driver
    return None


@pytest.fixture(scope="session")
def chrome() -> Iterator[Any]:
    """One headless Chromium for the session (each test opens its page in it)."""
    paths = browser_paths()
    if paths is None:
        pytest.skip(INSTALL_HINT)
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="the browser tests need selenium: pip install -e '.[dev]'"
    )
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--lang=en-US",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    with pytest.MonkeyPatch.context() as patch:
        # Selenium Manager would download a driver or a browser: with both paths given it never
        # runs, and this makes sure of it.
        from selenium.webdriver.common.selenium_manager import SeleniumManager

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("Selenium Manager must not run: the driver and browser paths are given")

        patch.setattr(SeleniumManager, "binary_paths", refuse)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_script_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def cross3(tiny_cross3_dir):
    from simmatch.models import PairClassifier

    return PairClassifier(tiny_cross3_dir, device="cpu")


class Page:
    """The playground page open in the browser, with the waits the tests need."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base

    def open(self) -> Page:
        self.driver.get(self.base + "/")
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.get(self.base + "/")
        self.until(lambda d: self.find("models").get_attribute("data-loaded") is not None)
        return self

    def find(self, element_id: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def until(self, condition: Callable[[Any], Any], timeout: float = WAIT_S) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(condition)

    def tab(self, name: str) -> None:
        self.find(f"tab-{name}").click()
        assert self.find(f"panel-{name}").is_displayed()

    def fill(self, element_id: str, text: str) -> None:
        """Type ``text`` into a field, as a user would (newlines included)."""
        field = self.find(element_id)
        field.clear()
        field.send_keys(text)

    def submit(self, tab: str) -> None:
        """Click the tab's run button and wait until its answer (or error) is shown."""
        output = self.find(f"{tab}-output")
        before = int(output.get_attribute("data-done") or 0)
        self.find(f"{tab}-run").click()
        self.until(lambda d: int(output.get_attribute("data-done") or 0) > before)

    def error(self, tab: str) -> str | None:
        box = self.find(f"{tab}-error")
        if not box.is_displayed():
            return None
        return box.find_element("css selector", ".message").text  # type: ignore[no-any-return]

    def screenshot(self, path: Path) -> None:
        """The whole page (the viewport grown to the page's height) as a PNG."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        metrics = {"width": 1280, "height": int(height), "deviceScaleFactor": 1, "mobile": False}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
