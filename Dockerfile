# Sextant: the 24/7 loop (and its dashboard) in a container.
#   docker build -t sextant .
#   docker compose up -d          (compose.yaml: state volume, .env, restart policy)
# The image holds no secret: keys come from the environment (.env) at run time.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SEXTANT_STATE_DIR=/data/state \
    MPLBACKEND=Agg \
    NUMBA_CACHE_DIR=/tmp/numba

# A user of its own: the loop never runs as root. /data/state is the volume.
RUN groupadd --system --gid 10001 sextant \
    && useradd --system --uid 10001 --gid sextant --create-home --home-dir /home/sextant sextant \
    && mkdir -p /data/state \
    && chown sextant:sextant /data/state

WORKDIR /app
# Dependencies first (a layer that survives code changes), then the code.
COPY pyproject.toml README.md ./
RUN mkdir -p sextant && touch sextant/__init__.py \
    && pip install . \
    && pip uninstall -y sextant \
    && rm -rf sextant build *.egg-info
COPY . .
# Editable: the code reads prompts/ and data/bundled/ beside itself.
RUN pip install --no-deps -e . \
    && python -c "import sextant, graph, agents, tools, execution, dashboard.app" \
    && chown -R root:root /app && chmod -R a+rX /app

USER sextant
VOLUME ["/data/state"]
EXPOSE 8787

# Healthy = a fresh heartbeat from a running loop that holds its lock (`sextant health`:
# exit 0 healthy, 1 not; Docker reserves 2, so anything else is reported as 1).
HEALTHCHECK --interval=60s --timeout=20s --start-period=180s --retries=3 \
    CMD sextant health || exit 1

# SIGTERM finishes the step in progress, persists and exits 0 (give it stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["sextant", "loop"]
