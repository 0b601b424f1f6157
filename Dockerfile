# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /seckill ./cmd/seckill

# alpine rather than distroless: busybox wget gives compose a /readyz healthcheck
FROM alpine:3.22
RUN adduser -D -H -u 10001 seckill
COPY --from=build /seckill /seckill
USER 10001:10001
ENV SECKILL_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/seckill"]
CMD ["serve"]
