"""The operator status page and a listing page in a real headless browser (Debian's
Chromium driven by selenium through the distribution's chromedriver; Selenium Manager never
downloads anything). Screenshots are kept as test artifacts: in the test's tmp folder, and
under CI also in ``test-artifacts/`` at the repository root.

Chromium is installed by ``make tools``; where it cannot be, the test skips with the reason
(and fails under ``CI=true``, where the Makefile should have installed it)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from interop.tools import require_tool
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = """\
grants:
  - {user: oper, homes: ["*"]}
auth:
  basic_over_http: true
"""
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture()
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A headless Chromium session (Basic credentials are added per test through CDP)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = require_tool("chromium", "chromium")
    chromedriver = require_tool("chromedriver", "chromium-driver")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never reach the network
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def site(tmp_path: Path) -> Iterator[DavServer]:
    srv = start_server(tmp_path, CONFIG)
    yield srv
    srv.stop()


def login(driver: Any, user: str) -> None:
    token = base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )


def keep_screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    assert driver.save_screenshot(str(path)), "no screenshot"
    assert path.stat().st_size > 1000
    if os.environ.get("CI") == "true":
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy2(path, ARTIFACTS / name)
    return path


def test_status_and_listing_in_a_real_browser(
    browser: Any, site: DavServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    content = b"a,b\n1,2\n"
    with httpx.Client(auth=("alice", USERS["alice"]), timeout=30) as alice:
        assert alice.request("MKCOL", site.files_url("alice", "in")).status_code == 201
        r = alice.put(site.files_url("alice", "in/report%20%3C1%3E.csv"), content=content)
        assert r.status_code == 201

    login(browser, "oper")
    browser.get(site.url + "status")
    assert browser.title == "davsync status"
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.site")
    users = {row.get_attribute("data-user") for row in rows}
    assert {"alice", "bob", "carol", "oper"} <= users
    alice_row = next(r for r in rows if r.get_attribute("data-user") == "alice")
    assert alice_row.find_element(By.TAG_NAME, "a").text == "alice"
    assert browser.find_element(By.CSS_SELECTOR, "meta[http-equiv=refresh]")
    keep_screenshot(browser, tmp_path, "status.png")

    alice_row.find_element(By.TAG_NAME, "a").click()
    WebDriverWait(browser, 30).until(lambda d: d.title == "davsync status: alice")

    browser.get(site.url)  # the start URL leads to the user's home
    assert browser.current_url == site.url + "dav/files/oper/"
    browser.get(site.url + "dav/files/alice/in/")
    assert browser.title.startswith("davsync:")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#listing tr.file a")]
    assert names == ["report <1>.csv"]
    digest = browser.find_element(By.CSS_SELECTOR, "#listing tr.file code")
    assert digest.get_attribute("title") == hashlib.sha256(content).hexdigest()
    assert "WsgiDAV" not in browser.page_source
    keep_screenshot(browser, tmp_path, "listing.png")
