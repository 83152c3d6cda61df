"""Compiling emails that are not a single story (the weekly digest, the double opt-in mail) from a template set.

A set named ``digest`` is ``email/digest.subject.txt.j2``, ``email/digest.mjml.j2`` and ``email/digest.txt.j2``,
found like every template (``NEWSBOT_TEMPLATES_DIR`` first). The result is a `CompiledEmail` whose personal links
are still the renderer's sentinels, so `EmailTemplate` builds the MIME once and patches each reader in.
"""

from __future__ import annotations

from typing import Any

import jinja2
from mjml import mjml2html

from bot.app.errors import RenderError
from bot.rendering.renderer import PREFERENCES_URL_SENTINEL, UNSUBSCRIBE_URL_SENTINEL, CompiledEmail, Renderer


def render_template(renderer: Renderer, name: str, context: dict[str, Any]) -> str:
    """Render one template of the renderer's environment, turning Jinja's errors into a RenderError naming it."""
    try:
        return renderer.environment.get_template(name).render(context)
    except jinja2.TemplateNotFound:
        raise RenderError(f"template {name} not found") from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"template {exc.name or name} line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {name}: {exc}") from None


def compile_email_set(renderer: Renderer, name: str, context: dict[str, Any]) -> CompiledEmail:
    """Subject, MJML-compiled HTML and plain text of template set *name*; counts in ``renderer.mjml_compiles``.

    The context gets ``outlet_name``, ``public_url`` and the link sentinels ``unsubscribe_url`` and
    ``preferences_url``; both bodies must carry the unsubscribe link, as story emails must.
    """
    settings = renderer.settings
    context = {
        "outlet_name": settings.outlet_name,
        "public_url": settings.public_url,
        "unsubscribe_url": UNSUBSCRIBE_URL_SENTINEL,
        "preferences_url": PREFERENCES_URL_SENTINEL,
        **context,
    }
    subject_name, html_name, text_name = (f"email/{name}.{kind}.j2" for kind in ("subject.txt", "mjml", "txt"))
    subject = " ".join(render_template(renderer, subject_name, context).split())
    if not subject:
        raise RenderError(f"template {subject_name} rendered an empty subject")
    text = render_template(renderer, text_name, context).rstrip("\n") + "\n"
    source = render_template(renderer, html_name, context)
    renderer.mjml_compiles += 1
    try:
        html = mjml2html(source, fonts={})
    except ValueError as exc:
        raise RenderError(f"template {html_name} is not valid MJML: {exc}") from None
    for template, body in ((html_name, html), (text_name, text)):
        if UNSUBSCRIBE_URL_SENTINEL not in body:
            raise RenderError(f"template {template} must include the unsubscribe link ({{{{ unsubscribe_url }}}})")
    return CompiledEmail(subject=subject, html=html, text=text)
