"""A real headless browser (Debian chromium + chromium-driver, driven by Selenium) uploads
through the upload page (``?upload``): two files at once with their SHA-256 values; then,
through the form of the folder listing, one with a wrong SHA-256, which the server refuses
while keeping the stored version."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.gateways.form_support import unavailable
from tests.support.configured import USERS, start_server
from tests.support.server import DavServer

pytestmark = pytest.mark.interop

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
CONFIG = "auth: {basic_over_http: true}\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    server = start_server(tmp_path_factory.mktemp("browser"), CONFIG)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[test]')")
        raise
    binary = shutil.which("chromium")
    if binary is None or not Path(CHROMEDRIVER).exists():
        unavailable("chromium and chromium-driver are not installed (make tools)")
        raise AssertionError("unreachable")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _page_url(srv: DavServer, folder: str, query: str = "?upload") -> str:
    parts = urlsplit(srv.files_url("alice", folder))
    return f"http://alice:{USERS['alice']}@{parts.netloc}{parts.path}{query}"


def _upload(driver: object, page: str, files: list[Path], sha256: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page)  # type: ignore[attr-defined]
    chooser = driver.find_element(By.CSS_SELECTOR, "input[type=file]")  # type: ignore[attr-defined]
    chooser.send_keys("\n".join(str(f) for f in files))
    driver.find_element(By.NAME, "file.sha256").send_keys(sha256)  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # type: ignore[attr-defined]
    # While the answer page replaces the form, an element found on the old page goes stale.
    WebDriverWait(
        driver, 60, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(
        lambda d: d.find_element(By.TAG_NAME, "h1").text in ("Upload complete", "Upload refused")
    )
    return str(driver.find_element(By.TAG_NAME, "body").text)  # type: ignore[attr-defined]


def test_browser_uploads_through_the_page(srv: DavServer, browser: object, tmp_path: Path) -> None:
    with httpx.Client(auth=("alice", USERS["alice"]), timeout=30) as c:
        assert c.request("MKCOL", srv.files_url("alice", "web/")).status_code == 201
    one, two = tmp_path / "one.csv", tmp_path / "two words.txt"
    one.write_bytes(b"a,b\n" * 1000)
    two.write_bytes("ümlaut text\n".encode() * 50)
    sums = "\n".join(hashlib.sha256(p.read_bytes()).hexdigest() for p in (one, two))
    text = _upload(browser, _page_url(srv, "web/"), [one, two], sums)
    assert "Upload complete" in text, text
    assert hashlib.sha256(one.read_bytes()).hexdigest() in text
    with httpx.Client(auth=("alice", USERS["alice"]), timeout=30) as c:
        assert c.get(srv.files_url("alice", "web/one.csv")).content == one.read_bytes()
        assert c.get(srv.files_url("alice", "web/two words.txt")).content == two.read_bytes()

    changed = tmp_path / "changed" / "one.csv"
    changed.parent.mkdir()
    changed.write_bytes(b"different content\n")
    # this time through the upload form of the folder listing
    text = _upload(browser, _page_url(srv, "web/", query=""), [changed], "0" * 64)
    assert "Upload refused" in text, text
    with httpx.Client(auth=("alice", USERS["alice"]), timeout=30) as c:
        assert c.get(srv.files_url("alice", "web/one.csv")).content == one.read_bytes()
