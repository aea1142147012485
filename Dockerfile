# Healer's image. It cannot be built on the development machines (no container engine there); its install
# steps are those of scripts/setup.sh, without the development tools.
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md healer_cli.py server.py ./
COPY api ./api
COPY graph ./graph
COPY tools ./tools
COPY evaluation ./evaluation
COPY prompts ./prompts
RUN python -m venv /app/.venv \
    && /app/.venv/bin/python -m pip install -qq --upgrade pip \
    && /app/.venv/bin/python -m pip install -qq -e .  # editable, as setup.sh: prompts/ is read from beside the code

# not root: a fixed unprivileged user, matching the Deployment's securityContext
RUN groupadd --gid 10001 healer && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin healer \
    && mkdir -p /data && chown healer:healer /data
USER 10001:10001
ENV PATH=/app/.venv/bin:$PATH HEALER_DATABASE_URL=sqlite:////data/healer.db
EXPOSE 8083
ENTRYPOINT ["healer"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8083"]
