"""The HTTP edge: the Starlette app with the REST API, websocket, auth and dashboard pages."""
