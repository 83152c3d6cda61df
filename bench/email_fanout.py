"""Benchmark 2: one story emailed to 20,000 readers through the full pipeline, against bare aiosmtplib.

Run: .venv/bin/python bench/email_fanout.py [--dkim] [RECIPIENTS]
Both sides send into the same local SMTP sink (bench/smtp_discard.py, its own process, 127.0.0.1) over
NEWSBOT_SMTP_CONNECTIONS connections, each in its own measured child process:
- newsbot: plan the story (ingest), then drain the outbox with the delivery worker: render once, MIME patched per
  reader (signed unsubscribe and preference links, Message-ID, Date, To), SMTP through the connection pool;
- bare: aiosmtplib sending one pre-built message of the same size, identical bytes, to the same recipients.
Goal: newsbot at least 0.8 of the bare throughput. Also prints client CPU per message and peak RSS.

With --dkim, newsbot also sends the same story to the same readers (a second copy of the store) with a throwaway
RSA-2048 DKIM key configured, and the last line is `signed/unsigned: 0.NN`, the signed rate over the unsigned rate of
the same run (goal: at least 0.80).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, SAMPLE_STORY, add_bench_readers, migrate, newsbot_env, print_table, run_child

CONNECTIONS = 4  # NEWSBOT_SMTP_CONNECTIONS' default


async def send_with_newsbot(data_dir: Path, smtp_url: str, dkim_key: str = "") -> dict[str, float]:
    sys.path.insert(0, str(REPO))
    from bot.app.config import Settings
    from bot.app.newsroom import Newsroom
    from bot.channels import build_channels
    from bot.outbox.worker import DeliveryWorker
    from bot.rendering.email_message import EmailTemplate
    from bot.stories.intake import ingest_story, prepare_story
    from bot.stories.parsing import read_story_file

    dkim = {"dkim_key_file": Path(dkim_key), "dkim_selector": "bench"} if dkim_key else {}
    settings = Settings(data_dir=data_dir, smtp_url=smtp_url, smtp_connections=CONNECTIONS, **dkim)
    async with await Newsroom.open(settings) as newsroom:
        started, cpu = time.perf_counter(), time.process_time()
        story = prepare_story(
            read_story_file(SAMPLE_STORY, settings.max_story_bytes),
            settings=settings,
            taxonomy=newsroom.taxonomy,
            tagger=newsroom.tagger,
        )
        await ingest_story(newsroom, story)
        channels = build_channels(settings)
        report = await DeliveryWorker(newsroom, channels).drain()
        for channel in channels.values():
            await channel.aclose()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        url = newsroom.signer.unsubscribe_url(1)
        size = len(
            EmailTemplate(newsroom.renderer.compile_email(story), settings).for_recipient(
                to="reader1@example.org", unsubscribe_url=url, preferences_url=url
            )
        )
    return {"seconds": seconds, "cpu": cpu, "sent": report.sent["email"], "bytes": size}


async def send_bare(smtp_url: str, recipients: int, size: int) -> dict[str, float]:
    from aiosmtplib import SMTP

    host, port = smtp_url.removeprefix("smtp://").split(":")
    line = b"X" * 76 + b"\r\n"
    content = b"Subject: bench\r\nFrom: newsletter@fairview-gazette.example\r\n\r\n" + line * (size // len(line))
    started, cpu = time.perf_counter(), time.process_time()

    async def connection(offset: int) -> int:
        client = SMTP(hostname=host, port=int(port), local_hostname="fairview-gazette.example")
        await client.connect()
        sent = 0
        for i in range(offset, recipients, CONNECTIONS):
            await client.sendmail("newsletter@fairview-gazette.example", [f"reader{i}@example.org"], content)
            sent += 1
        await client.quit()
        return sent

    sent = sum(await asyncio.gather(*(connection(k) for k in range(CONNECTIONS))))
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "sent": sent}


def write_rsa_key(path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def main() -> None:
    if sys.argv[1:2] == ["--newsbot-child"]:
        print(json.dumps(asyncio.run(send_with_newsbot(Path(sys.argv[2]), sys.argv[3], *sys.argv[4:5]))))
        return
    if sys.argv[1:2] == ["--bare-child"]:
        print(json.dumps(asyncio.run(send_bare(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))))
        return
    args = sys.argv[1:]
    dkim = "--dkim" in args
    args = [arg for arg in args if arg != "--dkim"]
    recipients = int(args[0]) if args else 20_000
    sink = subprocess.Popen(
        [sys.executable, Path(__file__).with_name("smtp_discard.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        smtp_url = sink.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            database = migrate(folder / "data")
            add_bench_readers(
                database,
                recipients,
                story_topic_share=1.0,
                email_share=1.0,
                email_cadence="instant",
                topics_per_reader=0,
                telegram=False,
            )
            if dkim:
                shutil.copytree(folder / "data", folder / "signed")
            env = newsbot_env(folder / "data")
            ours = run_child([sys.executable, __file__, "--newsbot-child", folder / "data", smtp_url], env, folder)
            result = ours.last_json()
            if dkim:
                key = write_rsa_key(folder / "dkim.pem")
                signed = run_child(
                    [sys.executable, __file__, "--newsbot-child", folder / "signed", smtp_url, key], env, folder
                ).last_json()
            bare = run_child(
                [sys.executable, __file__, "--bare-child", smtp_url, str(recipients), str(result["bytes"])], env, folder
            )
            bare_result = bare.last_json()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    if result["sent"] != recipients or bare_result["sent"] != recipients:
        sys.exit(f"sent {result['sent']} (newsbot) and {bare_result['sent']} (bare) of {recipients}")
    if dkim and signed["sent"] != recipients:
        sys.exit(f"sent {signed['sent']} of {recipients} signed")
    ours_rate, bare_rate = recipients / result["seconds"], recipients / bare_result["seconds"]
    print_table(
        f"Email: {recipients:,} recipients, {result['bytes']:,}-byte message, {CONNECTIONS} SMTP connections",
        [
            ("newsbot (plan + render + MIME + SMTP)", f"{result['seconds']:.1f} s = {ours_rate:,.0f} messages/s"),
            ("bare aiosmtplib, pre-built bytes", f"{bare_result['seconds']:.1f} s = {bare_rate:,.0f} messages/s"),
            ("ratio (goal >= 0.8)", f"{ours_rate / bare_rate:.2f}"),
            ("client CPU per message, newsbot", f"{result['cpu'] / recipients * 1000:.2f} ms"),
            ("client CPU per message, bare", f"{bare_result['cpu'] / recipients * 1000:.2f} ms"),
            ("peak RSS, newsbot child", f"{ours.peak_rss_mb:.0f} MB"),
        ],
    )
    if dkim:
        signed_rate = recipients / signed["seconds"]
        print_table(
            f"DKIM: the same {recipients:,} emails signed (rsa-sha256, 2048-bit key, relaxed/simple)",
            [
                ("newsbot, unsigned", f"{result['seconds']:.1f} s = {ours_rate:,.0f} messages/s"),
                ("newsbot, DKIM-signed", f"{signed['seconds']:.1f} s = {signed_rate:,.0f} messages/s"),
                ("client CPU per message, signed", f"{signed['cpu'] / recipients * 1000:.2f} ms"),
            ],
        )
        print(f"signed/unsigned: {signed_rate / ours_rate:.2f}")


if __name__ == "__main__":
    main()
