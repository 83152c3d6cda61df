"""The fake Bot API answers like Telegram does, so channel tests against it mean something."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import BotCommand, ChatMemberAdministrator, ChatMemberMember, ChatMemberOwner
from telegram.ext import ExtBot

from bot.app.tls import tls_context
from bot.channels.telegram_http import httpx_request
from tests.fakes import FakeBotAPI, SentMessage
from tests.telegram_session import eventually

TOKEN = "123:ABC"


@pytest.fixture
async def http(bot_api: FakeBotAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The process's one TLS context, as newsbot's own clients use: a client building its own spends 25 ms on it.
    async with httpx.AsyncClient(base_url=f"{bot_api.base_url}/bot{TOKEN}", timeout=5, verify=tls_context()) as client:
        yield client


@pytest.fixture
async def ptb(bot_api: FakeBotAPI) -> AsyncIterator[ExtBot]:
    """python-telegram-bot as newsbot builds it (`httpx_request`: both of its clients on the one TLS context)."""
    bot = ExtBot(
        TOKEN, base_url=f"{bot_api.base_url}/bot", request=httpx_request(), get_updates_request=httpx_request()
    )
    async with bot:
        yield bot


async def test_it_listens_on_loopback_only(bot_api: FakeBotAPI) -> None:
    assert bot_api.base_url.startswith("http://127.0.0.1:")
    assert bot_api.port > 0


async def test_get_me_describes_the_bot_named_by_the_token(http: httpx.AsyncClient) -> None:
    answer = (await http.post("/getMe")).json()
    assert answer["ok"] is True
    assert answer["result"]["id"] == 123
    assert answer["result"]["is_bot"] is True


async def test_send_message_accepts_json_and_form_bodies_alike(http: httpx.AsyncClient, bot_api: FakeBotAPI) -> None:
    as_json = await http.post("/sendMessage", json={"chat_id": 5, "text": "<b>json</b>", "parse_mode": "HTML"})
    as_form = await http.post("/sendMessage", data={"chat_id": "5", "text": "<i>form</i>", "parse_mode": "HTML"})
    assert as_json.status_code == as_form.status_code == 200
    assert bot_api.sent_messages == [SentMessage(5, "<b>json</b>", "HTML"), SentMessage(5, "<i>form</i>", "HTML")]
    assert bot_api.sent_to(5) == ["<b>json</b>", "<i>form</i>"]


async def test_sent_messages_are_full_message_objects_numbered_per_chat(http: httpx.AsyncClient) -> None:
    first = (await http.post("/sendMessage", json={"chat_id": 5, "text": "a"})).json()["result"]
    second = (await http.post("/sendMessage", json={"chat_id": 5, "text": "b"})).json()["result"]
    other = (await http.post("/sendMessage", json={"chat_id": -1001234, "text": "c"})).json()["result"]
    assert (first["message_id"], second["message_id"], other["message_id"]) == (1, 2, 1)
    assert first["chat"]["type"] == "private" and "first_name" in first["chat"]
    assert other["chat"] == {"id": -1001234, "type": "supergroup", "title": "Supergroup -1001234"}
    assert first["from"]["id"] == 123 and first["from"]["is_bot"] is True
    assert isinstance(first["date"], int)


async def test_html_is_parsed_into_text_and_utf16_entities(http: httpx.AsyncClient) -> None:
    html = '😀 <b>Vote</b> &amp; <a href="https://news.example.org/a?x=1&amp;y=2">read</a>'
    message = (await http.post("/sendMessage", json={"chat_id": 5, "text": html, "parse_mode": "HTML"})).json()
    assert message["result"]["text"] == "😀 Vote & read"
    assert message["result"]["entities"] == [
        {"type": "bold", "offset": 3, "length": 4},
        {"type": "text_link", "offset": 10, "length": 4, "url": "https://news.example.org/a?x=1&y=2"},
    ]


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("Fish & chips", 'Unescaped "&" at byte offset 5'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>bold</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("<span>hidden</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
async def test_html_that_telegram_would_refuse_gets_400_cant_parse_entities(
    http: httpx.AsyncClient, bot_api: FakeBotAPI, text: str, description: str
) -> None:
    answer = await http.post("/sendMessage", json={"chat_id": 5, "text": text, "parse_mode": "HTML"})
    assert answer.status_code == 400
    assert answer.json() == {
        "ok": False,
        "error_code": 400,
        "description": f"Bad Request: can't parse entities: {description}",
    }
    assert bot_api.sent_messages == []


@pytest.mark.parametrize(
    "text",
    [
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>i</ins><s>s</s><strike>s</strike><del>d</del>",
        '<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler><a href="https://e.example">z</a>',
        '<code>c</code><pre><code class="language-python">p</code></pre><blockquote expandable>q</blockquote>',
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> &lt;&gt;&quot;&amp;&#39;&#x41;',
        "<B>tags are case-insensitive</B>",
    ],
)
async def test_every_documented_tag_and_entity_is_accepted(http: httpx.AsyncClient, text: str) -> None:
    answer = await http.post("/sendMessage", json={"chat_id": 5, "text": text, "parse_mode": "HTML"})
    assert answer.status_code == 200, answer.text


async def test_a_bare_ampersand_passes_when_strictness_is_relaxed_like_telegram_itself() -> None:
    async with FakeBotAPI(strict_ampersand=False) as api, httpx.AsyncClient(verify=tls_context()) as client:
        answer = await client.post(
            f"{api.base_url}/bot{TOKEN}/sendMessage", json={"chat_id": 5, "text": "A & B", "parse_mode": "HTML"}
        )
    assert answer.json()["result"]["text"] == "A & B"


async def test_text_is_not_validated_without_html_parse_mode(http: httpx.AsyncClient) -> None:
    answer = await http.post("/sendMessage", json={"chat_id": 5, "text": "<script> & co"})
    assert answer.json()["result"]["text"] == "<script> & co"


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("x" * 4097, "Bad Request: message is too long"),
        ("", "Bad Request: message text is empty"),
        ("<b> </b>", "Bad Request: message text is empty"),
    ],
)
async def test_too_long_and_empty_texts_are_refused_in_telegrams_words(
    http: httpx.AsyncClient, text: str, description: str
) -> None:
    answer = await http.post("/sendMessage", json={"chat_id": 5, "text": text, "parse_mode": "HTML"})
    assert (answer.status_code, answer.json()["description"]) == (400, description)


async def test_exactly_4096_characters_fit_in_one_message(http: httpx.AsyncClient) -> None:
    answer = await http.post(
        "/sendMessage", json={"chat_id": 5, "text": "<b>" + "x" * 4096 + "</b>", "parse_mode": "HTML"}
    )
    assert answer.status_code == 200


async def test_rate_limit_answers_429_with_retry_after_beyond_30_sends_a_second(
    http: httpx.AsyncClient, bot_api: FakeBotAPI
) -> None:
    bot_api.rate_limit(per_second=30)
    answers = await asyncio.wait_for(
        asyncio.gather(*(http.post("/sendMessage", json={"chat_id": 5, "text": str(n)}) for n in range(40))),
        timeout=5,
    )
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(bot_api.sent_messages) == 30
    assert len(refused) == bot_api.too_many_requests == 10
    assert refused[0].json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


async def test_rate_limit_window_slides_so_sends_resume_after_a_second(
    http: httpx.AsyncClient, bot_api: FakeBotAPI
) -> None:
    now = [1_000.0]
    bot_api.clock = lambda: now[0]  # the window's time, moved by hand instead of waited for
    bot_api.rate_limit(per_second=3)
    statuses = [(await http.post("/sendMessage", json={"chat_id": 5, "text": "x"})).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    now[0] += 0.99
    assert (await http.post("/sendMessage", json={"chat_id": 5, "text": "x"})).status_code == 429
    now[0] += 0.02
    assert (await http.post("/sendMessage", json={"chat_id": 5, "text": "x"})).status_code == 200


async def test_per_chat_limit_is_separate_from_the_global_one(http: httpx.AsyncClient, bot_api: FakeBotAPI) -> None:
    bot_api.rate_limit(per_second=30, per_chat_per_second=1)
    to_five = [(await http.post("/sendMessage", json={"chat_id": 5, "text": "x"})).status_code for _ in range(2)]
    to_six = (await http.post("/sendMessage", json={"chat_id": 6, "text": "x"})).status_code
    assert (to_five, to_six) == ([200, 429], 200)


@pytest.mark.parametrize(
    ("setup", "chat_id", "code", "description", "parameters"),
    [
        ("block", 5, 403, "Forbidden: bot was blocked by the user", None),
        ("block", -5, 403, "Forbidden: bot was kicked from the group chat", None),
        ("deactivate", 5, 403, "Forbidden: user is deactivated", None),
        ("forget", 5, 400, "Bad Request: chat not found", None),
        (
            "migrate",
            -5,
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": -1005},
        ),
    ],
)
async def test_injected_chat_states_answer_with_telegrams_error_shapes(
    http: httpx.AsyncClient,
    bot_api: FakeBotAPI,
    setup: str,
    chat_id: int,
    code: int,
    description: str,
    parameters: dict | None,
) -> None:
    getattr(bot_api, setup)(chat_id)
    answer = await http.post("/sendMessage", json={"chat_id": chat_id, "text": "x"})
    expected = {"ok": False, "error_code": code, "description": description}
    if parameters:
        expected["parameters"] = parameters
    assert (answer.status_code, answer.json()) == (code, expected)


async def test_fail_next_fails_only_the_given_number_of_calls(http: httpx.AsyncClient, bot_api: FakeBotAPI) -> None:
    bot_api.fail_next("sendMessage", 502, times=2)
    statuses = [(await http.post("/sendMessage", json={"chat_id": 5, "text": "x"})).status_code for _ in range(3)]
    assert statuses == [502, 502, 200]


async def test_every_call_is_recorded_with_decoded_parameters(ptb: ExtBot, bot_api: FakeBotAPI) -> None:
    await ptb.send_message(chat_id=5, text="hi", disable_notification=True)
    method, params = bot_api.calls[-1]
    assert method == "sendMessage"
    assert params == {"chat_id": 5, "text": "hi", "disable_notification": True}


async def test_unknown_methods_and_wrong_tokens_are_refused() -> None:
    async with FakeBotAPI(token=TOKEN) as api, httpx.AsyncClient(base_url=api.base_url, verify=tls_context()) as client:
        wrong_token = await client.post("/bot999:XYZ/getMe")
        unknown = await client.post(f"/bot{TOKEN}/sendTelepathy")
    assert (wrong_token.status_code, wrong_token.json()["description"]) == (401, "Unauthorized")
    assert (unknown.status_code, unknown.json()["description"]) == (404, "Not Found")


async def test_get_updates_serves_pushed_updates_and_forgets_confirmed_ones(ptb: ExtBot, bot_api: FakeBotAPI) -> None:
    bot_api.push_message(5, "/start")
    bot_api.push_message(5, "hello")
    updates = await ptb.get_updates(timeout=0)
    assert [update.message.text for update in updates] == ["/start", "hello"]
    assert updates[0].message.entities[0].type == "bot_command"
    assert await ptb.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()


async def test_a_malformed_message_is_served_raw_and_plain_ptb_cannot_parse_it(
    ptb: ExtBot, bot_api: FakeBotAPI, http: httpx.AsyncClient
) -> None:
    bad = bot_api.push_malformed_message(5, "/start", date="yesterday")
    (raw,) = (await http.post("/getUpdates", json={"timeout": 0})).json()["result"]
    assert raw == bad and raw["message"]["date"] == "yesterday" and raw["message"]["text"] == "/start"
    with pytest.raises(TypeError):
        await ptb.get_updates(timeout=0)  # what stalled the bot; bot.app.telegram_updates screens such updates


async def test_get_updates_long_poll_wakes_up_when_an_update_arrives(ptb: ExtBot, bot_api: FakeBotAPI) -> None:
    poll = asyncio.create_task(ptb.get_updates(timeout=60))
    await eventually(lambda: bot_api.calls_to("getUpdates"), what="the long poll to reach the server")
    bot_api.push_message(5, "news?")
    updates = await asyncio.wait_for(poll, timeout=5)  # long before the poll's own 60 s: the update woke it
    assert [update.message.text for update in updates] == ["news?"]


async def test_get_updates_long_poll_returns_nothing_after_its_timeout(
    http: httpx.AsyncClient, bot_api: FakeBotAPI
) -> None:
    poll = asyncio.create_task(http.post("/getUpdates", json={"timeout": 0.2}))
    await eventually(lambda: bot_api.calls_to("getUpdates"), what="the long poll to reach the server")
    await asyncio.sleep(0)
    assert not poll.done()  # it holds the request open instead of answering at once...
    answer = await asyncio.wait_for(poll, timeout=5)  # ...and answers when its timeout is over
    assert answer.json() == {"ok": True, "result": []}


async def test_callback_queries_arrive_and_can_be_answered(ptb: ExtBot, bot_api: FakeBotAPI) -> None:
    sent = await ptb.send_message(chat_id=5, text="Subscribe?")
    bot_api.push_callback_query(5, sent.message_id, "subscribe:politics")
    (update,) = await ptb.get_updates(timeout=0)
    assert update.callback_query.data == "subscribe:politics"
    assert update.callback_query.message.message_id == sent.message_id
    assert await ptb.answer_callback_query(update.callback_query.id, text="Done") is True


async def test_edit_message_text_changes_the_stored_message(ptb: ExtBot, bot_api: FakeBotAPI) -> None:
    sent = await ptb.send_message(chat_id=5, text="<b>draft</b>", parse_mode="HTML")
    edited = await ptb.edit_message_text("<b>final</b>", chat_id=5, message_id=sent.message_id, parse_mode="HTML")
    assert edited.text == "final" and edited.edit_date is not None
    assert bot_api.messages[(5, sent.message_id)]["text"] == "final"


async def test_editing_to_the_same_text_is_refused_as_not_modified(http: httpx.AsyncClient) -> None:
    await http.post("/sendMessage", json={"chat_id": 5, "text": "same"})
    answer = await http.post("/editMessageText", json={"chat_id": 5, "message_id": 1, "text": "same"})
    assert answer.status_code == 400
    assert answer.json()["description"].startswith("Bad Request: message is not modified")


async def test_get_chat_member_reports_configured_statuses_in_shapes_ptb_parses(
    ptb: ExtBot, bot_api: FakeBotAPI
) -> None:
    bot_api.set_member_status(-1005, 1, "creator")
    bot_api.set_member_status(-1005, 2, "administrator")
    assert isinstance(await ptb.get_chat_member(-1005, 1), ChatMemberOwner)
    assert isinstance(await ptb.get_chat_member(-1005, 2), ChatMemberAdministrator)
    assert isinstance(await ptb.get_chat_member(-1005, 3), ChatMemberMember)


async def test_commands_and_webhook_settings_round_trip(ptb: ExtBot, bot_api: FakeBotAPI) -> None:
    assert await ptb.set_my_commands([BotCommand("start", "Subscribe"), BotCommand("stop", "Unsubscribe")])
    assert [command.command for command in await ptb.get_my_commands()] == ["start", "stop"]
    assert await ptb.delete_my_commands()
    assert bot_api.commands == []

    assert await ptb.set_webhook("https://news.example.org/telegram")
    assert (await ptb.get_webhook_info()).url == "https://news.example.org/telegram"
    assert await ptb.delete_webhook()
    assert (await ptb.get_webhook_info()).url == ""


async def test_get_updates_conflicts_while_a_webhook_is_set(http: httpx.AsyncClient) -> None:
    await http.post("/setWebhook", json={"url": "https://news.example.org/telegram"})
    answer = await http.post("/getUpdates", json={"timeout": 0})
    assert answer.status_code == 409
    assert json.loads(answer.content)["description"].startswith("Conflict: can't use getUpdates method")
