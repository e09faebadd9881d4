"""The benchmark: the service against a raw asyncpg baseline on the same data and requests (``python -m bench``)."""
