"""The review app in a real browser: headless Chromium driven over WebDriver (Debian's chromium
and chromium-driver, Selenium; nothing downloaded) opens `daydream review` as a user starts it,
moves through the essays with the keyboard, labels three, reloads and sees the labels, and a
script planted in model output does not run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from conftest import make_review_cohort, run_env, write

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="no Chromium and chromedriver here (.ci/run installs Debian's chromium and chromium-driver where it can)",
)
PLANTED = (
    "<script>document.title='PLANTED SCRIPT RAN'</script>"
    "<img src=x onerror=\"document.title='ONERROR RAN'\"><b id=planted-markup>bold</b>"
)


@pytest.fixture
def browser(tmp_path):
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look for a driver on the internet
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def review_address(tmp_path):
    data = tmp_path / "data"
    make_review_cohort(data, PLANTED)
    write(tmp_path / "config.yaml", f"data_root: {data}\nstatistics: {{resamples: 200}}\n")
    command = [sys.executable, "-m", "daydream", "review", "--config", str(tmp_path / "config.yaml")]
    command += ["--cohort", "cohort-r", "--port", "0", "--reviewer", "robin"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=run_env())
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
    assert match, line + process.stderr.read() if process.poll() is not None else line
    yield match.group(1), data
    process.terminate()
    process.wait(10)


def press(driver, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.TAG_NAME, "body").send_keys(key)


def wait_for_essay(driver, gen_id: str) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # the page may be replaced between finding the element and reading it: look again
    waiting = WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    waiting.until(lambda d: d.find_element(By.ID, "gen-id").text == gen_id)


def test_label_three_essays_with_the_keyboard_and_see_them_after_a_reload(browser, review_address):
    from selenium.webdriver.common.by import By

    address, data = review_address
    browser.get(address + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.essay-row")
    assert [row.get_attribute("data-gen-id") for row in rows] == ["e1", "e2", "e3", "e4", "e5"]
    rows[0].find_element(By.TAG_NAME, "a").click()
    wait_for_essay(browser, "e1")

    # the planted markup is shown as text and did not run (the page's own script does: see below)
    assert browser.title == "Essay e1"
    assert browser.find_elements(By.ID, "planted-markup") == []
    assert "<script>document.title='PLANTED SCRIPT RAN'</script>" in browser.find_element(By.ID, "essay-text").text
    assert "onerror" in browser.find_element(By.ID, "evaluations").text

    press(browser, "a")  # accept e1, on to e2
    wait_for_essay(browser, "e2")
    press(browser, "n")  # skip e2
    wait_for_essay(browser, "e3")
    press(browser, "p")  # back to e2
    wait_for_essay(browser, "e2")
    browser.find_element(By.NAME, "score").send_keys("3")
    browser.find_element(By.NAME, "comment").send_keys("too vague")
    press(browser, "r")  # reject e2 (the score and comment go with it)
    wait_for_essay(browser, "e3")
    press(browser, "u")  # undecided on e3
    wait_for_essay(browser, "e4")

    labels = pd.read_csv(data / "cohorts/cohort-r/human_labels.csv")
    assert list(zip(labels["essay_gen_id"], labels["verdict"], strict=True)) == [
        ("e1", "accept"),
        ("e2", "reject"),
        ("e3", "undecided"),
    ]
    assert (
        set(labels["reviewer"]) == {"robin"} and labels.loc[1, "score"] == 3 and labels.loc[1, "comment"] == "too vague"
    )

    browser.refresh()
    browser.get(address + "/essay/e2")
    assert browser.find_element(By.ID, "my-verdict").text == "reject"
    assert browser.find_element(By.NAME, "comment").get_attribute("value") == "too vague"
    browser.get(address + "/")
    states = {
        row.get_attribute("data-gen-id"): row.find_elements(By.TAG_NAME, "td")[-1].text
        for row in browser.find_elements(By.CSS_SELECTOR, "tr.essay-row")
    }
    assert states == {"e1": "accepted", "e2": "rejected", "e3": "undecided", "e4": "unlabelled", "e5": "unlabelled"}
    assert browser.title == "Review: cohort cohort-r"
