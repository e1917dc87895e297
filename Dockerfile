# gitfleet: a static binary on a small Debian base, running as a non-root user.
# Build: docker build -t gitfleet --build-arg VERSION=$(git describe --tags --always) .
# (make dist builds it as gitfleet:VERSION, with COMMIT and BUILD_DATE too.)
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildDate=${BUILD_DATE}" -o /out/gitfleet ./cmd/gitfleet

FROM debian:bookworm-slim
# sh runs the activate and health commands of the local transport;
# ca-certificates serve HTTPS sources.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/gitfleet --create-home gitfleet
COPY --from=build /out/gitfleet /usr/local/bin/gitfleet
USER 10001:10001
WORKDIR /var/lib/gitfleet
# To reach the daemon from outside the container, set listen: 0.0.0.0:9090 in
# gitfleet.yaml. It then refuses to start without an API token: mount one as a
# secret and name it, e.g.
#   docker run --mount type=bind,src=/etc/gitfleet,dst=/etc/gitfleet,readonly \
#     --mount type=bind,src=/srv/secrets/gitfleet-api-token,dst=/run/secrets/gitfleet-api-token,readonly ...
#   (Docker Swarm or Compose secrets appear at /run/secrets/<name> the same way)
# with, in gitfleet.yaml,
#   api:
#     tokenFile: /run/secrets/gitfleet-api-token     # openssl rand -hex 32
#     tls: {certFile: /etc/gitfleet/tls/cert.pem, keyFile: /etc/gitfleet/tls/key.pem}
# The token guards POST /api/v1/sync; /metrics, /healthz, status and history stay
# open, so publish the port only where they may be read. Without api.tls, put a
# TLS proxy in front: a token must not cross a network in clear text. The secret
# file must be readable by uid 10001.
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/gitfleet"]
CMD ["run", "--config", "/etc/gitfleet/gitfleet.yaml"]
