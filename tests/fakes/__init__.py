"""Test doubles that speak the real protocols over loopback: a Telegram Bot API server and an SMTP sink."""

from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.smtp_sink import ReceivedMessage, SmtpSink

__all__ = ["FakeBotAPI", "ReceivedMessage", "SentMessage", "SmtpSink"]
