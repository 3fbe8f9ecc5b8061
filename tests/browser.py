"""A real headless browser for console tests and screenshots: Debian's chromium driven by Selenium through
Debian's chromedriver (both installed by scripts/install; nothing is downloaded at run time)."""
from __future__ import annotations

import shutil
import tempfile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def chrome(width: int = 1366, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--disable-extensions", "--no-first-run",
                "--disable-background-networking", "--disable-sync", "--disable-default-apps",
                f"--user-data-dir={tempfile.mkdtemp(prefix='openmsk-chromium-')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=DriverService(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def get(driver, url: str, tries: int = 3) -> None:
    """driver.get, again after a renderer timeout (chromium on a heavily loaded machine)."""
    from selenium.common.exceptions import TimeoutException
    for attempt in range(tries):
        try:
            driver.get(url)
            return
        except TimeoutException:
            if attempt == tries - 1:
                raise


def click_and_wait(driver, element, timeout: float = 180) -> None:
    """Click a link or submit button and wait until the browser has left the page: a click returns once
    the click is dispatched, and on a loaded machine the next page (a POST and its redirect) can still be
    on its way, so reading it at once would read the old page."""
    from selenium.webdriver.common.by import By
    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    wait_left(driver, old, timeout)


def wait_left(driver, old, timeout: float = 180) -> None:
    """Until the browser has left the page whose <html> is `old` and the next one has loaded. Chromedriver
    reports an element of a page being replaced as stale or, in the middle of the navigation, as an
    `unhandled inspector error: Node with given id does not belong to the document` (a plain
    WebDriverException, which selenium's staleness_of lets through): both mean the page was left."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def left(_) -> bool:
        try:
            old.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
    WebDriverWait(driver, timeout).until(left)
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")


def sign_in(driver, endpoint: str, key_id: str, secret: str, region: str = "us-east-1") -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    get(driver, f"{endpoint}/console/")
    driver.find_element(By.ID, "f-access_key_id").send_keys(key_id)
    driver.find_element(By.ID, "f-secret_access_key").send_keys(secret)
    Select(driver.find_element(By.ID, "f-region")).select_by_value(region)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]"))


def full_page_screenshot(driver, path, width: int = 1366, max_height: int = 2000) -> None:
    """The whole page (up to max_height), as the window resized to its content."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(max(int(height) + 20, 600), max_height))
    driver.save_screenshot(str(path))
    driver.set_window_size(width, 900)
