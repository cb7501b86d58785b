# The sidecar image: production dependencies only, runs as a non-root user.
# NODE_IMAGE switches the base (CI builds a local stand-in when no registry
# is reachable); the default is the public Node 24 image.
ARG NODE_IMAGE=docker.io/library/node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev also leaves out the `node` devDependency: the base image has Node 24.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    LOCK_LISTEN=0.0.0.0:50051
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY gen ./gen
COPY src ./src
USER 1000:1000
EXPOSE 50051
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "src/main.ts"]
