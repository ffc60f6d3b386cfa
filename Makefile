# hardenvm — see README.md.
GO        ?= go
BIN       := bin/hardenvm
OUT       ?= out

.PHONY: all build image test test-short vet bench deps kernel clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/hardenvm

deps:
	scripts/deps

kernel:
	@scripts/fetch-kernel >/dev/null

# image builds the current test image and boots it (it grows into the
# desktop image as the build pipeline lands).
image: deps build
	$(GO) run ./test/qemu/cmd/mkinitrd -o $(OUT)/test-initrd.cpio.gz
	$(BIN) run --log-level info --timeout 3m --no-stdin --expect HARDENVM-TEST-INIT-READY \
		--kernel $$(scripts/fetch-kernel)/vmlinuz --initrd $(OUT)/test-initrd.cpio.gz \
		--append "console=ttyS0 panic=-1"

# test is the command CI runs (.ci/run sets HARDENVM_REQUIRE_QEMU=1 so that
# tests needing QEMU or a peer tool fail instead of skipping).
test: deps kernel vet
	$(GO) test -count=1 -timeout 40m ./...

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

clean:
	rm -rf bin $(OUT)
