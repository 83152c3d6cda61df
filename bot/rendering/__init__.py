"""Building messages: Jinja2 templates, Telegram HTML, MJML email and MIME, DKIM, signed personal links."""
