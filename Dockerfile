# Latchkey portal image: a static binary on distroless, run as a non-root user.
#
#   docker build -t latchkey .
#   docker run -p 8080:8080 latchkey
#
# Everything the portal serves (templates, CSS, htmx) is embedded in the binary and the
# generated files are committed, so the build needs Go only (no npm, no templ run).
#
# WARNING: the embedded defaults are for development only — the Seam sandbox, the
# built-in dev OpenID Provider with its well-known password, and SQLite under
# ./data (/home/nonroot/data here, lost with the container); the dev IdP and sandbox
# also listen on the container's loopback only. A production deployment sets
# LATCHKEY_ENV=production (which refuses to start on those defaults) and the
# LATCHKEY_BASE_URL, SEAM_*, OIDC_*, SESSION_KEY and DATABASE_URL variables (README.md).

# ---- build ----
FROM golang:1.27.3-bookworm AS build
# go.mod asks for go 1.27.3, which is the image's own toolchain: never download another.
ENV GOTOOLCHAIN=local CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags='-s -w' -o /out/latchkey .

# ---- run ----
FROM gcr.io/distroless/static-debian12:nonroot
# distroless "nonroot" is uid/gid 65532 and owns /home/nonroot, where the default
# SQLite database (data/latchkey.db, relative) can be created. The image carries CA
# certificates (for Seam and the IdP over HTTPS) and tzdata.
WORKDIR /home/nonroot
COPY --from=build /out/latchkey /latchkey
USER 65532:65532
# Listen on every interface inside the container (the binary's default is 127.0.0.1).
ENV LATCHKEY_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/latchkey"]
