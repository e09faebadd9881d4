# The posts API image: `docker build -t posts-api .`, then see compose.yaml for a full deployment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# The service runs as this unprivileged user; the code under /app stays owned by root and read-only to it.
RUN groupadd --system app \
    && useradd --system --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, in their own layer, so a code change does not reinstall them: the runtime dependencies of
# pyproject.toml at the exact versions of requirements.lock (what CI tested).
COPY pyproject.toml README.md requirements.lock ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep=chr(10))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -c requirements.lock -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY aerich.ini ./
COPY migrations/ ./migrations/
COPY service/ ./service/

# Why an editable install in /app rather than a plain `pip install .`:
# service/db/ finds the migrations as <parent of the imported `service` package>/migrations. A regular install
# copies only the `service` package into site-packages, so the code would look in site-packages/migrations, find
# no migration files, and the API's start-up check would refuse every migrated database ("migrations this code
# does not know"). Installed with `-e`, `service` is imported from /app/service wherever the process starts, so
# the code, aerich.ini (location = ./migrations, relative to WORKDIR /app) and the start-up check all use the one
# folder /app/migrations. The dependencies are regular installs; only the project itself is linked to /app.
RUN pip install --no-cache-dir --no-deps -c requirements.lock -e . \
    && python -m compileall -q service migrations

USER app

# EMBEDDED_PGDATA is only used when DATABASE_URL is unset (the embedded quick-start PostgreSQL): a folder the app
# user can write.
ENV HOST=0.0.0.0 \
    PORT=8000 \
    APP_ENV=production \
    EMBEDDED_PGDATA=/home/app/.pgdata

EXPOSE 8000

# Healthy when /health answers 200 (the database answers too); urlopen raises on 503 or no answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health', timeout=4)"]

CMD ["python", "-m", "service", "serve"]
