"""``newsbot editors``: the desk's accounts, and a sign-in link for the first admin (no mail relay needed)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bot.app.newsroom import Newsroom
from bot.cli.console import app, err, out, run_command, settings_of, with_newsroom
from bot.editors.audit import cli_actor
from bot.editors.desk_accounts import LoginLink, add_editor, list_editors, login_link_for, remove_editor
from subscribers.editor_accounts import EditorAccount

editors_app = typer.Typer(
    help="Desk accounts: add, list and remove editors; print a sign-in link.", no_args_is_help=True
)
app.add_typer(editors_app, name="editors")


def _account_json(account: EditorAccount) -> dict[str, object]:
    return {
        "email": account.email,
        "name": account.name,
        "role": account.role,
        "telegram_id": account.telegram_id,
        "created_at": account.created_at.isoformat(),
    }


@editors_app.command("add")
def editors_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The editor's email address: sign-in links go there.")],
    name: Annotated[str | None, typer.Option("--name", help="The name the desk shows.")] = None,
    role: Annotated[str, typer.Option("--role", help="editor, or admin (also accounts and readers' data).")] = "editor",
    telegram_id: Annotated[
        int | None, typer.Option("--telegram-id", help="The editor's Telegram user id, so /desk in the bot works.")
    ] = None,
) -> None:
    """Add a desk account."""

    async def work(newsroom: Newsroom) -> EditorAccount:
        return await add_editor(
            newsroom, email, name=name, role=role.strip().lower(), telegram_id=telegram_id, actor=cli_actor()
        )

    account = run_command(with_newsroom(settings_of(ctx), work))
    out.print(f"added {account.role} {account.email}; sign in with: newsbot editors login-link {account.email}")


@editors_app.command("list")
def editors_list(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """List desk accounts."""
    accounts = run_command(with_newsroom(settings_of(ctx), list_editors))
    if as_json:
        print(json.dumps([_account_json(a) for a in accounts], ensure_ascii=False))
        return
    if not accounts:
        out.print("no desk accounts yet; add one with: newsbot editors add EMAIL --role admin")
        return
    for account in accounts:
        extras = [f"telegram {account.telegram_id}"] if account.telegram_id is not None else []
        label = f"{account.email} ({account.name})" if account.name else account.email
        out.print("  ".join([f"{account.role:<6}", label, *extras]))


@editors_app.command("remove")
def editors_remove(
    ctx: typer.Context, email: Annotated[str, typer.Argument(help="The account's email address.")]
) -> None:
    """Remove a desk account: its sessions and sign-in links stop working at once."""

    async def work(newsroom: Newsroom) -> EditorAccount:
        return await remove_editor(newsroom, email, actor=cli_actor())

    account = run_command(with_newsroom(settings_of(ctx), work))
    out.print(f"removed {account.email}")


@editors_app.command("login-link")
def editors_login_link(
    ctx: typer.Context, email: Annotated[str, typer.Argument(help="The account's email address.")]
) -> None:
    """Print a one-time sign-in link (valid 15 minutes) for an account."""

    async def work(newsroom: Newsroom) -> LoginLink:
        return await login_link_for(newsroom, email)

    link = run_command(with_newsroom(settings_of(ctx), work))
    print(link.url)
    err.print(f"(works once, for {link.minutes} minutes, for {link.account.email})")
