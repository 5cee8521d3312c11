# One image for the operator and the dispatchers it starts:
#   docker build -t <registry>/hookline:0.1.0 .
#   operator:   (default command)          node hookline.ts operator
#   dispatcher: args ["dispatcher", ...]   what the operator writes into dispatcher Deployments
# Node runs the TypeScript sources directly (type stripping), so there is no compile step:
# the build stage only installs the production dependencies.

ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency needs an install script; refusing them keeps the build reproducible.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm cache clean --force

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="hookline" \
      org.opencontainers.image.description="Kubernetes operator that delivers events from Kafka, RabbitMQ and HTTP to signed webhooks" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

WORKDIR /app
# Owned by root and read-only to the process: nothing is written at runtime, so the
# container runs with a read-only root filesystem.
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY core ./core
COPY operator ./operator
COPY dispatcher ./dispatcher
COPY cli ./cli
COPY hookline.ts ./

ENV NODE_ENV=production
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "hookline.ts"]
CMD ["operator"]
