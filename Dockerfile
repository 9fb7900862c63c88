# syntax=docker/dockerfile:1
# idleprobe: measures where networks drop idle SSH connections; Prometheus exporter on :9923.
#   docker build -t idleprobe:0.1.0 .
#   docker run -v ./idleprobe.yml:/etc/idleprobe/idleprobe.yml:ro -v idleprobe-history:/var/lib/idleprobe \
#     -p 127.0.0.1:9923:9923 --cap-drop ALL --read-only --tmpfs /tmp idleprobe:0.1.0
# For `passive:` (bastion hosts, deploy/kubernetes/bastion): an image with tcpdump, which gets CAP_NET_RAW
# as a file capability (the container's only one):
#   docker build --build-arg WITH_TCPDUMP=yes -t idleprobe:0.1.0-tcpdump .

# --- build stage: compiles src/ to dist/ and native modules; the runtime stage gets no compiler and no TypeScript ---
FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 (and ssh2's optional cpu-features) fall back to a source build when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# `npm ci` runs the `prepare` script (tsc → dist/); then the dev dependencies (typescript, tsx, vitest) go.
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# --- runtime stage ---
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# tcpdump only on request: the measuring agent never captures. setcap gives it CAP_NET_RAW on exec (when
# the container's bounding set has it), so idleprobe itself runs without any capability.
ARG WITH_TCPDUMP=no
RUN if [ "$WITH_TCPDUMP" = yes ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends tcpdump libcap2-bin \
      && setcap cap_net_raw+ep /usr/bin/tcpdump \
      && apt-get purge -y libcap2-bin \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# A fixed uid/gid so volume and Kubernetes fsGroup permissions can be planned (10001, not a host user).
RUN groupadd --system --gid 10001 idleprobe \
 && useradd --system --uid 10001 --gid idleprobe --home-dir /var/lib/idleprobe --no-create-home --shell /usr/sbin/nologin idleprobe \
 && mkdir -p /etc/idleprobe /var/lib/idleprobe \
 && chown idleprobe:idleprobe /var/lib/idleprobe
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
USER 10001:10001
# Config (read-only) and the SQLite measurement history (must persist: warm starts, history API).
VOLUME ["/etc/idleprobe", "/var/lib/idleprobe"]
EXPOSE 9923
# Node's fetch: no curl/wget in the slim image. Assumes the default plain-HTTP listen address.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9923/-/healthy').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/idleprobe.mjs"]
CMD ["serve", "--config=/etc/idleprobe/idleprobe.yml", "--history=/var/lib/idleprobe/history.sqlite", "--web.listen-address=:9923"]
