# The sidecar image: production dependencies only, runs as a non-root user.
#   docker build -t redlock-sidecar .
# NODE_IMAGE switches the base (CI builds a local stand-in when no registry
# is reachable); the default is the public Node 24 image.
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev also leaves out the `node` devDependency: the base image has Node 24.
# Behind a TLS-intercepting proxy, pass its CA bundle as a build secret (it is
# not stored in the image): --secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    LOCK_LISTEN=0.0.0.0:50051 \
    LOCK_ADMIN_LISTEN=0.0.0.0:9090
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY gen ./gen
COPY src ./src
# Read-only root filesystem friendly: nothing is written at run time.
USER 1000:1000
# gRPC API; admin HTTP (/healthz, /readyz, /metrics).
EXPOSE 50051 9090
STOPSIGNAL SIGTERM
# For tens of thousands of kept leases per sidecar, NODE_OPTIONS=--max-semi-space-size=4
# trades throughput for memory (docs/benchmarks.md, scale).
ENTRYPOINT ["node", "src/main.ts"]
