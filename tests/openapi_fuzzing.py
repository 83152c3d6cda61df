"""schemathesis's whole run (examples, coverage, fuzzing, stateful; every check) against the app's own schema.

Kept out of the test modules: schemathesis and Hypothesis take seconds to import, and every test process imports
every test module while collecting, so only the process that runs the fuzzing test imports them, from here.
"""

from __future__ import annotations

import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status as EngineStatus
from schemathesis.engine import events as engine_events
from schemathesis.python import asgi as schemathesis_asgi
from starlette.types import Receive, Scope, Send

from bot.app.config import Settings
from bot.app.newsroom import Newsroom
from bot.web import create_app
from tests.editor_fixtures import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


class NewsroomApp:
    """The web app of a newsroom opened at ASGI start-up, in the event loop that then serves its requests.

    schemathesis calls an ASGI app from an event loop of its own, and the store's connections belong to the loop
    that opened them, so the newsroom is opened there, in the lifespan, not in the test's loop.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.newsroom: Newsroom | None = None
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            assert self.app is not None, "the lifespan starts before any request"
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.newsroom = await Newsroom.open(self.settings)
                self.app = create_app(self.newsroom)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.newsroom is not None:
                    await self.newsroom.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


#: Examples per operation and phase: enough to find the classic failures, few enough to keep this test quick (the
#: coverage phase's boundary cases do not count against it; fifty took twice the CPU and found nothing more).
FUZZ_EXAMPLES = 20
FUZZ_SEED = 10


def schemathesis_config() -> SchemathesisConfig:
    """What ``schemathesis run --checks all --max-examples 20 --seed 10 --generation-deterministic`` sets."""
    config = SchemathesisConfig()
    config.update(seed=FUZZ_SEED, max_failures=None)
    project = config.projects.override
    project.update(headers=AUTH)
    project.generation.update(max_examples=FUZZ_EXAMPLES, deterministic=True, database="none")
    # DELETE retracts a story: it stays, marked withdrawn, so an editor can still GET it and follow the deletion of
    # its sent copies (retracted_at, changes). "Use after free" expects a 404 there, which would hide exactly that.
    project.checks.update(included_check_names=["all"], excluded_check_names=["use_after_free"])
    # A story's text and topics have rules no JSON Schema states (no markup, known topic names, an absolute
    # http(s) link): a schema-valid request can be refused, with a 422 naming the field.
    acceptance = project.checks.positive_data_acceptance
    acceptance.expected_statuses = [*acceptance.expected_statuses, "422"]
    return config


def run_schemathesis(settings: Settings) -> tuple[list[str], list[str], int, set[str]]:
    """Every failure (check, request, code sample) and error schemathesis reports, how many checks it ran, and the
    operations (``METHOD /path``) the schema has that no checked request exercised."""
    app = NewsroomApp(settings.model_copy(update={"api_token": API_TOKEN}))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis_config())
    assert {"/api/stories", "/api/stories/{story_id}"} <= set(schema.raw_schema["paths"])
    unexercised = {
        f"{method.upper()} {path}"
        for path, operations in schema.raw_schema["paths"].items()
        for method in operations
        if method in {"get", "put", "post", "delete", "patch"}
    }
    failures, errors, checked = [], [], 0
    try:
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, engine_events.ScenarioFinished | engine_events.FuzzScenarioFinished):
                for case_id, nodes in event.recorder.checks.items():
                    checked += len(nodes)
                    case = event.recorder.cases[case_id].value
                    unexercised.discard(case.operation.label)
                    failures += [
                        f"{node.name}: {case.method} {case.formatted_path}: {node.failure_info.code_sample}"
                        for node in nodes
                        if node.status == EngineStatus.FAILURE and node.failure_info is not None
                    ]
            elif isinstance(event, engine_events.NonFatalError | engine_events.FatalError):
                errors.append(str(event.info.message if hasattr(event, "info") else event))
    finally:
        schemathesis_asgi.shutdown_lifespans()  # closes the newsroom before its database goes away
    return failures, errors, checked, unexercised
