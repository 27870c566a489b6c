"""The web console in a real headless Chromium (Debian's), against the local stack with real nodes.

The fake microphone plays a real LibriSpeech recording (reader 103): the console records the
consent and the reference from it, enrolls, transcribes a two-reader file and names the reader on
the timeline, streams the microphone and gets a labelled delta, and erases the speaker. Each
screen is photographed under .artifacts/console/ for a reviewer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from scaiecho.local.stack import ALL_SCOPES, LocalStack
from scaiecho.services.keys import create_key
from tests.e2e.speech import CONSENTS, FIXTURES, RATE, read

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium: install Debian's chromium (.ci/setup.sh does) to run the "
                "browser tests", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (extra [dev]) is not installed")

SHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "console"
# A tenant of its own: other e2e tests enroll the same readers for the demo tenant, and
# identification picks among the tenant's speakers.
TENANT = "e2e-console"
NAME = "Reader 103"
# Chromium's flags for a machine with no display, GPU or network; the fake devices answer
# getUserMedia with the WAV file (looped) and grant the permission without a prompt.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture(scope="module")
def mic_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Chromium's fake capture reads 16-bit PCM WAV; reader 103 with a pause after each pass, so
    # the live stream's VAD finds an utterance end.
    speech = read(FIXTURES / "speech" / "speaker_f_103.flac")
    path = tmp_path_factory.mktemp("mic") / "reader_103.wav"
    sf.write(path, np.concatenate([speech, np.zeros(RATE, dtype=np.float32)]), RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(mic_wav: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*FLAGS, f"--use-file-for-fake-audio-capture={mic_wav}"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Console:
    """One console tab, connected with the test tenant's key; records page errors and failed requests."""

    def __init__(self, page: Any, stack: LocalStack, api_key: str) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # Chromium also logs every HTTP error response as a console error: those are checked
        # by URL instead (self.failed), the one expected being the optional consent route.
        page.on("console", lambda m: m.type == "error" and not m.text.startswith(
            "Failed to load resource") and self.errors.append(m.text))
        self.failed: list[str] = []
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        # what the server said over the WebSocket, for the failure message of the live test
        self.frames: list[str] = []
        page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda f: self.frames.append(f if isinstance(f, str) else "<binary>")))
        page.goto(stack.api_url + "/console")  # redirected to …/console/
        page.get_by_label("API key").fill(api_key)
        page.get_by_role("button", name="Connect").click()
        sync_api.expect(page.locator("#whoami")).to_contain_text(f"tenant {TENANT}")

    def check(self) -> None:
        """No script error, and no failed request but the consent evidence (an optional route)."""
        assert not self.errors, self.errors
        unexpected = [f for f in self.failed if not re.fullmatch(r"404 .*/speakers/spk_\w+/consent", f)]
        assert not unexpected, unexpected

    def screen(self, name: str) -> None:
        self.page.get_by_role("link", name=name, exact=True).click()
        sync_api.expect(self.page.locator(f"#screen-{name.lower()}")).to_be_visible()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def api_key(stack: LocalStack) -> str:
    return create_key(TENANT, ALL_SCOPES).api_key


@pytest.fixture(scope="module")
def http_tenant(stack: LocalStack, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=60,
                      headers={"Authorization": f"Bearer {api_key}"}) as client:
        yield client


@pytest.fixture(scope="module")
def console(browser: Any, stack: LocalStack, api_key: str) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1366, "height": 860}, accept_downloads=True)
    try:
        yield Console(context.new_page(), stack, api_key)
    finally:
        context.close()


@pytest.fixture(scope="module")
def state() -> dict[str, str]:
    return {}


def record(page: Any, host: str, seconds: float) -> None:
    box = page.locator(host)
    box.get_by_role("button", name="● Record").click()
    sync_api.expect(box.locator(".state")).to_contain_text("Recording")
    time.sleep(seconds)
    box.get_by_role("button", name="■ Stop").click()
    sync_api.expect(box.locator(".state")).to_contain_text("Recorded", timeout=15_000)


def test_console_is_served_with_the_api(stack: LocalStack) -> None:
    page = httpx.get(stack.api_url + "/console/", timeout=10)
    assert page.status_code == 200 and "<title>ScaiEcho console</title>" in page.text
    assert httpx.get(stack.api_url + "/console/app.js", timeout=10).status_code == 200
    # only the static folder is served, never the package's Python files
    assert httpx.get(stack.api_url + "/console/__init__.py", timeout=10).status_code == 404


def test_screens_are_reachable_by_keyboard_with_visible_focus(console: Console) -> None:
    page = console.page
    page.get_by_role("button", name="Connect").focus()
    page.keyboard.press("Tab")  # the next stop is the first screen link
    focused = page.evaluate("() => [document.activeElement.textContent, "
                            "getComputedStyle(document.activeElement).outlineStyle]")
    assert focused == ["Enroll", "solid"], focused
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # "Transcribe"
    sync_api.expect(page.locator("#screen-transcribe")).to_be_visible()
    sync_api.expect(page.locator("#screen-enroll")).to_be_hidden()
    # every form control has a label a screen reader can announce
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map(e => e.outerHTML)""")
    assert not unlabelled, unlabelled
    console.check()


def test_enroll_from_the_microphone(console: Console, state: dict[str, str]) -> None:
    page = console.page
    console.screen("Enroll")
    page.get_by_label("Display name").fill(NAME)
    page.get_by_label("Display name").press("Tab")  # fills the consent name, which the wording uses
    sync_api.expect(page.locator("#consent-read")).to_contain_text(f"I, {NAME}, agree")
    # The platform checks that the consent is read in the reference's voice and says the consent
    # text; the fake microphone loops a passage of a book, so the consent is reader 103's own
    # recording of a known sentence, chosen as a file, with the wording set to that sentence.
    consent_file, consent_text = CONSENTS["103"]
    page.get_by_text("Edit the consent wording").click()
    page.get_by_label("Consent text").fill(consent_text)
    page.locator("#consent-audio").get_by_label("or choose a file").set_input_files(
        str(FIXTURES / "speech" / consent_file))
    record(page, "#reference-audio", 11)
    sync_api.expect(page.get_by_test_id("preflight-grade")).to_have_text(
        re.compile("average|good|high"), timeout=60_000)
    submit = page.get_by_role("button", name="Enroll speaker")
    sync_api.expect(submit).to_be_enabled()
    console.shot("enroll-preflight")
    submit.click()
    sync_api.expect(page.get_by_test_id("enroll-status")).to_have_text("ready", timeout=240_000)
    state["speaker_id"] = page.get_by_test_id("enroll-speaker-id").inner_text()
    assert state["speaker_id"].startswith("spk_")
    sync_api.expect(page.locator("#enroll-result")).to_contain_text("node-1")
    console.shot("enroll-result")
    console.check()


def test_enroll_explains_bad_recordings_in_words(console: Console, tmp_path: Path) -> None:
    page = console.page
    console.screen("Enroll")
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are meeting notes, not audio")
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(RATE // 2, dtype=np.float32), RATE, subtype="PCM_16")
    reference = page.locator("#reference-audio")
    try:
        reference.get_by_label("or choose a file").set_input_files(str(not_audio))
        sync_api.expect(page.locator("#preflight [role=alert]")).to_contain_text(re.compile(
            r"(not accepted|could not be read as audio).*"
            r"\((unsupported_media_type|audio_undecodable), HTTP 4\d\d"))
        reference.get_by_label("or choose a file").set_input_files(str(silence))
        sync_api.expect(page.locator("#preflight")).to_contain_text("Quality check failed")
        sync_api.expect(page.locator("#preflight")).to_contain_text("too short (too_short)")
        sync_api.expect(page.get_by_role("button", name="Enroll speaker")).to_be_disabled()
        sync_api.expect(page.locator("#enroll-ready")).to_contain_text("passes the quality check")
        console.shot("enroll-errors")
    finally:
        # the refused file's request was the point of this test, not a fault for the next ones
        refused = [f for f in console.failed if f.endswith("/preflight")]
        console.failed = [f for f in console.failed if f not in refused]
    assert refused and all(re.match(r"4\d\d ", f) for f in refused), refused
    console.check()


def test_transcribe_names_the_enrolled_speaker_on_the_timeline(
    console: Console, state: dict[str, str], tmp_path: Path
) -> None:
    if "speaker_id" not in state:
        pytest.skip("enrollment failed")
    page = console.page
    recording = tmp_path / "two_readers.wav"
    female = read(FIXTURES / "speech" / "speaker_f_103.flac")
    male = read(FIXTURES / "speech" / "speaker_m_1040.flac")
    sf.write(recording, np.concatenate([male, np.zeros(RATE, dtype=np.float32), female]), RATE,
             subtype="PCM_16")
    console.screen("Transcribe")
    page.get_by_label("Upload a file").set_input_files(str(recording))
    page.get_by_role("button", name="Start job").click()
    sync_api.expect(page.get_by_test_id("job-state")).to_have_text(re.compile("QUEUED|PROCESSING|COMPLETED"))
    console.shot("transcribe-progress")
    sync_api.expect(page.get_by_test_id("job-state")).to_have_text("COMPLETED", timeout=300_000)
    lanes = page.get_by_test_id("lane-name")
    sync_api.expect(lanes.filter(has_text=NAME)).to_have_count(1)
    assert lanes.count() >= 2, lanes.all_inner_texts()  # the other reader keeps an anonymous label
    sync_api.expect(page.locator("#transcript")).to_contain_text(NAME)
    # the named lane's turns lie where reader 103 speaks: the second half (from 15.6 s of 30.7 s)
    turns = page.locator(f".lane:has([data-testid=lane-name]:text-is('{NAME}')) .turn")
    spans = turns.evaluate_all("els => els.map(e => [parseFloat(e.style.left), parseFloat(e.style.width)])")
    assert spans, "the named lane has no turns"
    late = sum(w for left, w in spans if left >= 45)
    assert late > 0.8 * sum(w for _, w in spans) and late > 35, spans
    console.shot("transcribe-timeline")
    with page.expect_download() as download:
        page.get_by_role("button", name="RTTM").click()
    rttm = Path(download.value.path()).read_text()
    assert rttm.startswith("SPEAKER "), rttm[:200]
    console.check()


def test_live_stream_shows_a_labelled_delta(console: Console, state: dict[str, str]) -> None:
    if "speaker_id" not in state:
        pytest.skip("enrollment failed")
    page = console.page
    console.screen("Live")
    page.get_by_role("button", name="Start microphone").click()
    sync_api.expect(page.locator("#live-status")).to_contain_text("Connected", timeout=30_000)
    named = page.get_by_test_id("delta-speaker").filter(has_text=NAME)
    try:
        sync_api.expect(named.first).to_be_visible(timeout=120_000)
    except AssertionError as exc:
        raise AssertionError(f"no delta named {NAME!r}; frames: {console.frames[-5:]}") from exc
    page.get_by_role("button", name="Stop").click()
    sync_api.expect(page.locator("#live-status")).to_contain_text("Stream closed", timeout=120_000)
    delta = page.locator("#live-deltas li.delta").filter(has=named.first)
    assert delta.first.get_attribute("data-speaker-label") == state["speaker_id"]
    assert delta.first.locator(".text").inner_text().strip()
    console.shot("live")
    console.check()


def test_speakers_list_and_erasure_with_its_audit(
    console: Console, state: dict[str, str], http_tenant: httpx.Client
) -> None:
    if "speaker_id" not in state:
        pytest.skip("enrollment failed")
    page = console.page
    speaker_id = state["speaker_id"]
    console.screen("Speakers")
    row = page.locator(f"tr[data-speaker-id='{speaker_id}']")
    sync_api.expect(row).to_contain_text(NAME)
    sync_api.expect(row).to_contain_text("ready")
    row.get_by_role("button", name=f"Open {NAME}").click()
    sync_api.expect(page.get_by_test_id("warm-nodes")).to_contain_text("node-1")
    evidence = page.locator(".consent-evidence")
    sync_api.expect(evidence).to_contain_text("Consent id")
    sync_api.expect(evidence).to_contain_text("voice check score")  # the checks' evidence is shown
    link = evidence.get_by_role("link", name="Download the consent recording")
    assert httpx.get(link.get_attribute("href") or "", timeout=10).status_code == 200
    console.shot("speakers-detail")
    page.get_by_role("button", name="Erase…").click()
    page.get_by_role("button", name=f"Yes, erase {NAME}").click()
    sync_api.expect(page.get_by_test_id("erasure-status")).to_have_text(
        re.compile("complete|pending_retry"), timeout=120_000)
    audit_id = page.get_by_test_id("erasure-audit-id").inner_text()
    assert audit_id
    sync_api.expect(page.get_by_test_id("erasure-audit")).to_contain_text("node-1")
    sync_api.expect(page.locator("#speaker-detail h3")).to_have_text(f"{NAME}: erased")
    sync_api.expect(page.get_by_role("button", name="Erase…")).to_have_count(0)
    sync_api.expect(row).to_have_count(0)  # the list reloaded without the erased speaker
    console.shot("speakers-erased")
    # the erasure is real: the API no longer has the speaker, and the audit is the one shown
    assert http_tenant.get(f"/speakers/{speaker_id}").status_code == 404
    assert http_tenant.get(f"/erasures/{audit_id}").json()["data"]["speaker_id"] == speaker_id
    console.check()
