# autowu: the daemon and the command-line tools, built from this repository on Debian 12 with Swift.
FROM swift:6.1-bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libzmq3-dev libopenblas-dev liblapacke-dev libsqlite3-dev libsodium-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product autowud && swift build -c release --product autowu \
    && install -D .build/release/autowud /out/autowud && install -D .build/release/autowu /out/autowu \
    && mkdir -p /out/traces && cp traces/*.csv /out/traces/

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libzmq5 libopenblas0-pthread liblapacke libsqlite3-0 libsodium23 libcurl4 libxml2 tzdata \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/lib/swift/linux/*.so /usr/lib/swift/linux/
COPY --from=build /out/ /usr/local/bin/
RUN mv /usr/local/bin/traces /usr/share/autowu-traces && useradd --system --create-home autowu \
    && mkdir -p /var/lib/autowu && chown autowu /var/lib/autowu
ENV LD_LIBRARY_PATH=/usr/lib/swift/linux
USER autowu
EXPOSE 7740 7741 7742
ENTRYPOINT ["autowud"]
