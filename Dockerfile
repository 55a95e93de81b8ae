# syntax=docker/dockerfile:1
# regent's image: `docker build -t regent:local .`, or `docker compose up --build`
# with the generated docker-compose.yml. Checked offline by
# test/topology/dockerfile.test.ts (no Docker engine needed).

# Build stage: dev dependencies and the TypeScript build; native modules are
# built (or their prebuilds picked) for this image's Linux, never the host's.
FROM node:22-bookworm-slim AS build
WORKDIR /src
# Dependencies first: this layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: production dependencies and the built code only, run as the
# image's unprivileged `node` user (uid 1000). The files stay root-owned, so
# the process cannot change its own code.
FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
# Compiled code only: without src/ next to it, bin/regent.js runs dist/ (as
# the installed npm package does), with no TypeScript loader in the process.
COPY --from=build /src/dist ./dist
# A default topology; compose mounts the deployment's own at /etc/regent/regions.
COPY regions ./regions
USER node
# /metrics, /healthz and /readyz with `--metrics-port 9464 --metrics-host 0.0.0.0`.
EXPOSE 9464
ENTRYPOINT ["node", "/app/bin/regent.js"]
CMD ["--help"]
