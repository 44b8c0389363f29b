# One image, two binaries: `ferry-operator` (the controller) and `ferry` (the engine and precheck
# pods the operator creates). Build: docker build -t ghcr.io/ferry-dev/ferry:0.1.0 .
# (Not built on the development machines: they have no container engine.)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ferry-engine -p ferry-operator \
 && mkdir -p /out \
 && cp target/release/ferry target/release/ferry-operator /out/

# distroless/cc: glibc and CA certificates, no shell; nonroot is uid 65532, which the chart and
# the operator's pods run as.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ferry /out/ferry-operator /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["ferry"]
