"""The integrator's guide runs: every curl example in openapi.md, against a live server.

The guide's conventions (its "Examples" section explains them to readers):

- A ```` ```sh ```` block whose first line starts with ``curl`` is run with ``bash`` (in guide
  order, on one fresh server and database) with ``CCAPI``, ``CCAPI_ADMIN_TOKEN`` and every
  variable captured so far in its environment; ``CCAPI_HOOK_URL`` is a loopback receiver.
- The next block must be its answer: a ```` ```http ```` block with the status line, the
  headers worth showing and the JSON body (nothing for a 204). The status line must be
  equal; each header shown must be there with a matching value; the body must have the same
  keys, the same types and the same values, except for the wildcards below.
- ``<!-- capture: NAME=.path NAME=header:etag -->`` after the answer keeps a value of the
  body (``.data[0].id``) or a header for the later examples.
- Wildcards in answers: ``…`` inside a string stands for any characters; a ``"…": "…"``
  member lets the object have more keys; a UUID stands for any UUID, the same one wherever
  it appears in the guide; a time with fractional seconds (the server's clock) stands for
  any time.
- Any other ```` ```http ```` block is a sample that is not run: it must come right after an
  ``<!-- not run: reason -->`` comment.

``GUIDE_FILL=1`` writes the real answer of every example whose answer block is missing
(or not abbreviated) into openapi.md instead of failing: a tool for editing the guide.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from tests.conftest import ADMIN_TOKEN, steady_keys
from tests.live_server import serving
from tests.webhook_receiver import running_receiver

GUIDE = Path(__file__).resolve().parents[1] / "openapi.md"
FENCE = re.compile(r"^```(\S*)\s*$")
COMMENT = re.compile(r"^<!--\s*(capture|not run):\s*(.*?)\s*-->\s*$")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TIME_WITH_FRACTION = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(?:Z|[+-]\d\d:\d\d)"
ANY_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)"
TOKEN = re.compile(f"({UUID})|({TIME_WITH_FRACTION})|(…)")
ELLIPSIS = "…"
OPEN_ENDED = f'"{ELLIPSIS}": "{ELLIPSIS}"'
# Headers a filled-in answer shows (others, like Date or RateLimit, vary or add noise).
SHOWN_HEADERS = ("location", "etag", "content-type", "idempotent-replayed", "retry-after")
NOT_RUN = [
    "the guide has no person yet at this point; the tests run this flow "
    "(tests/test_person_sessions.py)",
    "the limits and the time left in the window differ from run to run "
    "(the test server raises the limits)",
    "reaching the limit would take 600 requests (the test server raises the limits)",
    "the feed is text/calendar, and its URL holds the secret token the example above answered",
]
PATH_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


@dataclass
class Block:
    lang: str
    text: str
    start: int  # index of the opening fence line
    end: int  # index of the closing fence line


@dataclass
class Item:
    kind: str  # "block" or "capture" or "not run"
    line: int
    block: Block | None = None
    text: str = ""


def parse(lines: list[str]) -> list[Item]:
    items: list[Item] = []
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            block = Block(fence.group(1), "\n".join(lines[i + 1 : j]), i, j)
            items.append(Item("block", i, block=block))
            i = j + 1
            continue
        comment = COMMENT.match(lines[i].strip())
        if comment:
            items.append(Item(comment.group(1), i, text=comment.group(2)))
        i += 1
    return items


@dataclass
class Example:
    request: Block
    answer: Block | None
    captures: list[tuple[str, str]] = field(default_factory=list)


def examples(items: list[Item]) -> tuple[list[Example], list[str]]:
    """The curl examples in order, and the reasons given for samples that are not run."""
    found: list[Example] = []
    not_run: list[str] = []
    for n, item in enumerate(items):
        block = item.block
        if block is None or block.lang != "sh" or not block.text.startswith("curl "):
            continue
        after = items[n + 1] if n + 1 < len(items) else None
        answer = None
        if after and after.block and after.block.lang == "http":
            answer = after.block
        captures: list[tuple[str, str]] = []
        following = items[n + 2 : n + 3] if answer is not None else items[n + 1 : n + 2]
        for later in following:
            if later.kind == "capture":
                for spec in later.text.split():
                    name, _, path = spec.partition("=")
                    captures.append((name, path))
        found.append(Example(block, answer, captures))
    answers = {id(e.answer) for e in found if e.answer is not None}
    for n, item in enumerate(items):
        if item.block and item.block.lang == "http" and id(item.block) not in answers:
            before = items[n - 1] if n else None
            if before is not None and before.kind == "not run" and before.line == item.line - 1:
                not_run.append(before.text)
            else:
                not_run.append(f"UNMARKED: line {item.line + 1}")
    return found, not_run


GUIDE_LINES = GUIDE.read_text(encoding="utf-8").split("\n")


@dataclass
class Answer:
    status_line: str
    headers: dict[str, str]
    body: str


def parse_curl_output(raw: str) -> Answer:
    head, _, body = raw.partition("\r\n\r\n")
    while head.startswith("HTTP/1.1 100"):
        head, _, body = body.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(lines[0].strip(), headers, body)


def parse_sample(text: str) -> Answer:
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(lines[0].strip(), headers, body.strip())


class Matcher:
    """Compares an answer with its sample; sample UUIDs map one-to-one to real ones."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.reverse: dict[str, str] = {}

    def string(self, sample: str, actual: str, where: str) -> None:
        pattern = ""
        kinds: list[str] = []
        last = 0
        for token in TOKEN.finditer(sample):
            pattern += re.escape(sample[last : token.start()])
            if token.group(1):
                pattern += f"({UUID})"
                kinds.append(token.group(1))
            elif token.group(2):
                pattern += ANY_TIME
            else:
                pattern += "(?s:.*)"
            last = token.end()
        pattern += re.escape(sample[last:])
        match = re.fullmatch(pattern, actual)
        assert match, f"{where}: {actual!r} does not match the sample {sample!r}"
        for sample_id, real_id in zip(kinds, match.groups(), strict=True):
            known = self.ids.get(sample_id)
            assert known in (None, real_id), (
                f"{where}: {sample_id} stood for {known} earlier in the guide, here for {real_id}"
            )
            other = self.reverse.get(real_id)
            assert other in (None, sample_id), (
                f"{where}: {real_id} is shown as {other} earlier in the guide, here as {sample_id}"
            )
            self.ids[sample_id] = real_id
            self.reverse[real_id] = sample_id

    def value(self, sample: Any, actual: Any, where: str) -> None:
        if isinstance(sample, dict):
            assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
            open_ended = sample.get(ELLIPSIS) == ELLIPSIS
            keys = set(sample) - {ELLIPSIS}
            if open_ended:
                missing = keys - set(actual)
                assert not missing, f"{where}: missing keys {sorted(missing)}"
            else:
                assert keys == set(actual), (
                    f"{where}: keys differ: the guide has {sorted(keys - set(actual))} "
                    f"that the answer lacks, the answer has {sorted(set(actual) - keys)}"
                )
            for key in sorted(keys):
                self.value(sample[key], actual[key], f"{where}.{key}")
        elif isinstance(sample, list):
            assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
            assert len(sample) == len(actual), (
                f"{where}: {len(actual)} items where the guide shows {len(sample)}"
            )
            for n, (s, a) in enumerate(zip(sample, actual, strict=True)):
                self.value(s, a, f"{where}[{n}]")
        elif isinstance(sample, str):
            assert isinstance(actual, str), f"{where}: expected a string, got {actual!r}"
            self.string(sample, actual, where)
        else:
            assert type(sample) is type(actual) and sample == actual, (
                f"{where}: {actual!r} where the guide shows {sample!r}"
            )

    def answer(self, sample: Answer, actual: Answer, where: str) -> None:
        assert actual.status_line == sample.status_line, (
            f"{where}: answered {actual.status_line!r}, the guide shows "
            f"{sample.status_line!r}\n{actual.body}"
        )
        for name, value in sample.headers.items():
            assert name in actual.headers, f"{where}: no {name} header"
            self.string(value, actual.headers[name], f"{where} header {name}")
        if not sample.body:
            assert actual.body == "", f"{where}: a body the guide does not show: {actual.body}"
            return
        self.value(json.loads(sample.body), json.loads(actual.body), where)


def extract(path: str, answer: Answer) -> str:
    if path.startswith("header:"):
        return answer.headers[path.removeprefix("header:").lower()]
    value: Any = json.loads(answer.body)
    for step in PATH_STEP.finditer(path):
        value = value[step.group(1)] if step.group(1) else value[int(step.group(2))]
    assert isinstance(value, str), f"capture {path}: {value!r} is not a string"
    return value


def pretty(value: Any, indent: int = 0) -> str:
    """JSON as the guide shows it: one line where it fits, else one member per line."""
    flat = json.dumps(value, ensure_ascii=False)
    if (indent and indent + len(flat) <= 88) or not isinstance(value, dict | list) or not value:
        return flat
    inner = " " * (indent + 2)
    if isinstance(value, dict):
        members = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {pretty(v, indent + 2)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(members) + "\n" + " " * indent + "}"
    items = [inner + pretty(v, indent + 2) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def fill_text(answer: Answer) -> str:
    """An answer as the guide shows it: stable headers, the body indented."""
    lines = [answer.status_line]
    for name in SHOWN_HEADERS:
        value = answer.headers.get(name)
        if value is None or (name == "content-type" and value == "application/json"):
            continue
        if name == "etag":
            value = '"…"'
        lines.append(f"{name.title().replace('Etag', 'ETag')}: {value}")
    if answer.body:
        body = pretty(json.loads(answer.body))
        body = re.sub(r'"req_[0-9a-f]{32}"', '"req_…"', body)
        body = re.sub(r'"(whsec|cck_live)_[^"]+"', r'"\1_…"', body)
        body = re.sub(r'"next_cursor": "Wy[^"]+"', '"next_cursor": "Wy…"', body)
        body = re.sub(r'"http://127\.0\.0\.1:\d+/hooks/', '"…/hooks/', body)
        lines += ["", body]
    return "\n".join(lines)


@pytest.fixture
async def server_url(
    settings: Settings,
    engine: AsyncEngine,
    committed_app_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[str]:
    app = steady_keys(create_app(settings, engine=engine, sessionmaker=committed_app_sessionmaker))
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


async def run_curl(script: str, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        script,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, f"exit {process.returncode}: {err.decode()}\n{script}"
    return out.decode()


async def test_every_example_in_the_guide_answers_as_shown(server_url: str) -> None:
    items = parse(GUIDE_LINES)
    found, not_run = examples(items)
    assert len(found) == 93
    fill = os.environ.get("GUIDE_FILL") == "1"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CCAPI": server_url,
        "CCAPI_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    matcher = Matcher()
    edits: list[tuple[Example, str]] = []
    async with running_receiver() as receiver:
        env["CCAPI_HOOK_URL"] = receiver.url("/hooks/ccapi")
        for example in found:
            where = f"openapi.md line {example.request.start + 1}"
            actual = parse_curl_output(await run_curl(example.request.text, env))
            abbreviated = example.answer is not None and OPEN_ENDED in example.answer.text
            if fill and not abbreviated:
                edits.append((example, fill_text(actual)))
            else:
                assert example.answer is not None, f"{where}: no answer block follows"
                matcher.answer(parse_sample(example.answer.text), actual, where)
            for name, path in example.captures:
                env[name] = extract(path, actual)
    if edits:
        lines = list(GUIDE_LINES)
        for example, text in reversed(edits):
            new = ["```http", *text.split("\n"), "```"]
            if example.answer is not None:
                lines[example.answer.start : example.answer.end + 1] = new
            else:
                lines[example.request.end + 1 : example.request.end + 1] = ["", *new]
        GUIDE.write_text("\n".join(lines), encoding="utf-8")
    # The samples that are not run, each with its reason in the guide: keep them few.
    assert not_run == NOT_RUN


async def test_the_guide_is_served_as_html_linked_from_the_docs(settings: Settings) -> None:
    """/guide renders openapi.md with its tables and anchors, loads nothing from elsewhere,
    stays out of the OpenAPI document like /docs, and the API description links to it."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/guide")
        again = await client.get("/guide")
        schema = (await client.get("/openapi.json")).json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert again.text == page
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Career Conversations API - integrator's guide</title>" in page
    assert '<h2 id="rate-limits">Rate limits</h2>' in page
    assert '<a href="#rate-limits">Rate limits</a>' in page
    assert "<th>status</th>" in page
    assert '<pre><code class="language-sh">curl -sS -i -X POST &quot;$CCAPI/v1/people&quot;' in page
    # Offline: no script, stylesheet, image or font is loaded from anywhere; the only
    # outside address is a link a reader may follow.
    assert "<script" not in page
    assert "<link" not in page
    assert " src=" not in page
    assert "@import" not in page
    assert re.findall(r'href="((?:https?:)?//[^"]*)"', page) == [
        "https://www.standardwebhooks.com/"
    ]
    assert '<a href="docs">Swagger UI</a>' in page
    assert "/guide" not in schema["paths"]
    assert "/docs" not in schema["paths"]
    assert "The [integrator's guide](guide) (served at `/guide`)" in schema["info"]["description"]


def test_the_comparison_catches_drift() -> None:
    """What the guide test would let through and what it would not."""
    a, b = "01a22e00-d4f7-7a59-9457-3e9156022cf7", "01a22e00-d0ef-7fd6-a7fe-0bdb1e8e2b10"
    x, y = "11111111-2222-7333-8444-555555555555", "66666666-7777-7888-8999-000000000000"
    sample = {"id": a, "at": "2026-11-30T19:48:56.623194Z", "n": 1, "s": "req_…", "l": [a]}
    Matcher().value(
        sample, {"id": x, "at": "2031-01-02T07:00:00Z", "n": 1, "s": "req_9", "l": [x]}, "ok"
    )
    Matcher().value({"id": a, "…": "…"}, {"id": x, "more": True}, "open-ended")
    wrong: list[tuple[Any, Any]] = [
        ({"id": a}, {"id": x, "more": True}),  # a key the guide does not show
        ({"id": a, "gone": None}, {"id": x}),  # a key the answer lacks
        ({"n": 1}, {"n": "1"}),  # another type
        ({"n": 1}, {"n": 1.0}),
        ({"b": False}, {"b": 0}),
        ({"l": [a]}, {"l": [x, y]}),  # another length
        ({"ids": [a, a]}, {"ids": [x, y]}),  # one sample id, two real ones
        ({"ids": [a, b]}, {"ids": [x, x]}),  # two sample ids, one real one
        ({"at": "2030-03-11T10:00:00Z"}, {"at": "2030-03-11T11:00:00Z"}),  # exact time
        ({"s": "req_…"}, {"s": "other"}),
    ]
    for sample, actual in wrong:
        with pytest.raises(AssertionError):
            Matcher().value(sample, actual, "drift")


def test_samples_that_are_not_run_must_say_why() -> None:
    lines = [
        "```sh",
        "curl -sS -i $CCAPI/healthz",
        "```",
        "",
        "```http",
        "HTTP/1.1 200 OK",
        "```",
        "<!-- not run: a reason -->",
        "```http",
        "HTTP/1.1 429 Too Many Requests",
        "```",
        "```http",
        "HTTP/1.1 200 OK",
        "```",
    ]
    found, not_run = examples(parse(lines))
    assert [(e.request.start, e.answer.start if e.answer else None) for e in found] == [(0, 4)]
    assert not_run == ["a reason", "UNMARKED: line 12"]
