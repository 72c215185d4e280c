"""The dashboard: static assets and jinja2 templates, served by floe.server.pages."""
