# Benchmarks need root: they build namespaces, veths and TUNs.
GO ?= go

.PHONY: bench bench-smoke image

# The full comparison (3 reps of 10 s runs); results in benchmarks/results.
bench:
	sudo $(GO) run ./benchmarks

# A quick check that every smoke row moves data (1 rep, 2 s runs).
bench-smoke:
	sudo $(GO) run ./benchmarks -smoke -out benchmarks/results-smoke

# The container image (Containerfile): a static wgu FROM scratch, built from
# this tree with nothing pulled. CONTAINER may carry flags, e.g.
# CONTAINER="podman --root /tmp/x --runroot /tmp/y".
IMAGE ?= localhost/wgu:latest
CONTAINER ?= $(shell command -v podman || command -v docker)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
IMAGE_CONTEXT ?= build/image

image:
	@test -n "$(CONTAINER)" || { echo "make image: neither podman nor docker found" >&2; exit 1; }
	rm -rf $(IMAGE_CONTEXT)
	mkdir -p $(IMAGE_CONTEXT)/rootfs/usr/local/bin $(IMAGE_CONTEXT)/rootfs/tmp
	chmod 1777 $(IMAGE_CONTEXT)/rootfs/tmp
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w -X main.version=$(VERSION)' \
		-o $(IMAGE_CONTEXT)/rootfs/usr/local/bin/wgu ./cmd/wgu
	$(CONTAINER) build -f Containerfile -t $(IMAGE) $(IMAGE_CONTEXT)
