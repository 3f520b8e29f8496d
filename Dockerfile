# syntax=docker/dockerfile:1.7
#
# The imgpipe Lambda function image. The runtime stage holds only the esbuild bundle and the
# jSquash .wasm files: pure JavaScript and WebAssembly, no native modules. So the build stage runs
# once on the build machine's own platform, and the same bytes go into linux/amd64 and
# linux/arm64 images. See terraform/README.md, "Container image", for the exact build and push
# commands.
#
# Pin the bases by digest for reproducible builds, e.g.
#   docker buildx imagetools inspect public.ecr.aws/lambda/nodejs:24 --format '{{json .Manifest.Digest}}'
#   docker buildx build --build-arg BASE_IMAGE=public.ecr.aws/lambda/nodejs:24@sha256:<digest> ...
ARG BASE_IMAGE=public.ecr.aws/lambda/nodejs:24
ARG BUILD_IMAGE=public.ecr.aws/docker/library/node:24-bookworm-slim

FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS build
ARG SOURCE_DATE_EPOCH
WORKDIR /src
# Lockfile install, without install scripts: the build needs esbuild and TypeScript, whose
# platform binaries come from their optional dependencies, and nothing that must compile.
COPY package.json package-lock.json ./
COPY scripts/patch-glue.mjs ./scripts/patch-glue.mjs
# ... then the one install step the bundle needs: jSquash's glue copies its inputs with one
# TypedArray.set instead of a loop over their bytes (scripts/patch-glue.mjs; build.ts checks it).
RUN npm ci --ignore-scripts --no-audit --no-fund && node scripts/patch-glue.mjs
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts scripts/outdir.ts ./scripts/
COPY src ./src
# Type-check, then bundle the handlers and copy the codecs' .wasm files into /dist.
RUN node_modules/.bin/tsc -p tsconfig.build.json \
 && node scripts/build.ts --outdir /dist

FROM ${BASE_IMAGE}
ARG SOURCE_DATE_EPOCH
# Large allocations get their own mmap, returned on free, instead of fragmenting malloc arenas
# (glibc reads this at process start). Why and what it saves: src/core/runtime.ts.
ENV MALLOC_MMAP_THRESHOLD_=131072
COPY --from=build /dist/ ${LAMBDA_TASK_ROOT}/
# index.handler is the S3 event handler. Other handlers exported by index.mjs are selected by
# overriding the command (Terraform: image_config.command).
CMD ["index.handler"]
