"""The REST API under /api (and the media routes): routers only, each a part of the API; the
incidents, media and database stages do the work. The HTTP application that serves them beside
the console is gateway.app.create_app. Errors are `{"error": {"code", "message"}}`
(gateway.api.errors); who may call what is gateway.api.auth."""
