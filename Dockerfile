# ridepred web service: the course's container (Flask + gunicorn on 9696), without Python.
#   docker build -t ridepred .
#   docker run --rm -p 9696:9696 ridepred
#   docker run --rm -p 9696:9696 -v "$PWD/model.json:/models/model.json:ro" ridepred serve --model /models/model.json --host 0.0.0.0 --workers auto
# Not built in CI here (no Docker engine on the build machine): keep it in step with package.json by hand.

# Build stage: dev dependencies (TypeScript) compile src/ to dist/.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
# --ignore-scripts: "prepare" would compile before the sources are copied in.
RUN npm ci --ignore-scripts
COPY src ./src
RUN npx tsc -p tsconfig.json

# Runtime stage: production dependencies only, the compiled code, the bundled model; runs as a non-root user.
FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# "prepare" needs TypeScript, which --omit=dev leaves out: dist/ comes from the build stage instead.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY schema ./schema
COPY models/ride-duration.json ./models/ride-duration.json
USER node
EXPOSE 9696
# Ready means loaded and golden examples reproduced (200); 503 until then. node:20-slim has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9696/v2/health/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node is PID 1 and handles SIGTERM itself: in-flight requests finish, then exit 0 (docker stop).
ENTRYPOINT ["node", "bin/ridepred"]
CMD ["serve", "--host", "0.0.0.0", "--port", "9696"]
