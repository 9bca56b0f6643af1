# syntax=docker/dockerfile:1
# One image, two processes: the API (the default command) and the worker (`command` in compose,
# `args` in Kubernetes). Both commands are the package.json scripts `api` and `worker` word for word;
# test/unit/deploy-files.unit.test.ts checks that, and test/int/container-commands.int.test.ts runs
# them against the stack, so the tests cover what the container runs.
#
#   docker build --build-arg GIT_SHA=$(git rev-parse --short HEAD) -t spice-oms:dev .

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# --- production dependencies only -----------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- build: dev dependencies and the workflow bundle (CI type-checks every commit) ------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json worker.ts ./
COPY src ./src
COPY scripts ./scripts
# The workflow code is bundled here once, so a worker starts polling in seconds instead of running
# webpack (and holding its memory) at every start.
RUN mkdir -p dist && node --require tsx/cjs scripts/bundle-workflows.ts dist/workflow-bundle.js

# --- runtime ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG GIT_SHA=unknown
ENV NODE_ENV=production \
    SPICE_HOST=0.0.0.0 \
    API_BIND_HOST=0.0.0.0 \
    API_DEV_KEY= \
    SPICE_GIT_SHA=${GIT_SHA} \
    WORKER_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    WORKER_METRICS_PORT=9464 \
    WORKER_METRICS_BIND_HOST=0.0.0.0 \
    CONSUMER_METRICS_BIND_HOST=0.0.0.0
WORKDIR /app
# Owned by root and read-only to the process: the image's code cannot be changed by what runs it.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json tsconfig.json worker.ts ./
COPY src ./src
COPY scripts ./scripts
# The node image's unprivileged user (uid 1000); Kubernetes' runAsNonRoot needs the numeric id.
USER 1000:1000
EXPOSE 8080 9464
# The API's liveness route; the worker's container overrides it with `healthcheck.cjs worker`
# (its /metrics server), see docker-compose.yml.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.cjs"]
CMD ["node", "--require", "tsx/cjs", "src/app/api-server.ts"]
