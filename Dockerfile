# gitfleet: a static binary on a small Debian base, running as a non-root user.
# Build: docker build -t gitfleet --build-arg VERSION=$(git describe --tags --always) .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gitfleet ./cmd/gitfleet

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
# Set listen: 0.0.0.0:9090 in gitfleet.yaml to reach /metrics from outside.
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/gitfleet"]
CMD ["run", "--config", "/etc/gitfleet/gitfleet.yaml"]
