# hardenvm — see README.md.
GO        ?= go
BIN       := bin/hardenvm
OUT       ?= out

.PHONY: all build image desktop lock lock-check test test-short vet bench deps kernel cosign clean

all: build

# The guest binaries are built the way pkg/initramfs.BuildInit builds the
# init: static and without paths or build IDs, so images stay reproducible.
# images/bin holds what images/desktop.yml copies in (the runtime shim and
# the authorization plugin).
# The host CLI gets its version and commit stamped (internal/version) for
# builds whose build info lacks them (-buildvcs off, no .git); without git
# the stamps stay empty and `hardenvm version` says so. The guest binaries
# are never stamped: their bytes must not depend on the checkout.
VERSION_PKG := github.com/hardenvm/hardenvm/internal/version
GIT_VERSION := $(shell git describe --tags --always --dirty 2>/dev/null)
GIT_COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
HOST_LDFLAGS := -X $(VERSION_PKG).Version=$(GIT_VERSION) -X $(VERSION_PKG).Commit=$(GIT_COMMIT)
GUEST_GO = CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS= $(GO) build -trimpath -buildvcs=false -ldflags='-s -w -buildid='
# arm64 images (debian.arch: arm64) take the same programs cross-compiled,
# from bin/arm64 and images/bin/arm64 (imagebuild.GuestBinary).
GUEST_GO_ARM64 = $(subst GOARCH=amd64,GOARCH=arm64,$(GUEST_GO))
build:
	$(GO) build -trimpath -ldflags='$(HOST_LDFLAGS)' -o $(BIN) ./cmd/hardenvm
	$(GUEST_GO) -o bin/hardenvm-init ./boot/init
	$(GUEST_GO) -o bin/hardenvm-agent ./cmd/hardenvm-agent
	$(GUEST_GO) -o images/bin/ ./cmd/hardenvm-runc ./cmd/hardenvm-authz ./cmd/hardenvm-bridge ./cmd/hardenvm-egress
	$(GUEST_GO_ARM64) -o bin/arm64/hardenvm-init ./boot/init
	$(GUEST_GO_ARM64) -o bin/arm64/hardenvm-agent ./cmd/hardenvm-agent
	$(GUEST_GO_ARM64) -o images/bin/arm64/ ./cmd/hardenvm-runc ./cmd/hardenvm-authz ./cmd/hardenvm-bridge ./cmd/hardenvm-egress

deps:
	scripts/deps

kernel:
	@scripts/fetch-kernel >/dev/null

# cosign is the independent verifier of our sigstore bundles; it is built
# from the Go module proxy once per machine (several minutes the first time).
cosign:
	@scripts/fetch-cosign >/dev/null

# image builds images/$(IMAGE).yml signed with the keys in $(KEYS)
# (created on first use) and boots it under OVMF Secure Boot with a TPM
# until the guest init reports READY.
IMAGE ?= minimal
KEYS  ?= keys
image: deps build
	@test -f $(KEYS)/db.key || $(BIN) keys init --keys $(KEYS)
	$(BIN) build images/$(IMAGE).yml -o $(OUT)/$(IMAGE) --keys $(KEYS)
	$(BIN) run $(OUT)/$(IMAGE) --keys $(KEYS) --log-level info --timeout 5m --no-stdin --expect 'hardenvm-init: READY'

# desktop builds the product image and runs it as a user does: the engine
# on $(STATE)/docker.sock and the docker context "hardenvm", the engine's
# state kept in $(STATE) across runs. Ctrl-C shuts the VM down in order.
STATE ?= $(HOME)/.hardenvm/desktop
desktop: deps build
	@test -f $(KEYS)/db.key || $(BIN) keys init --keys $(KEYS)
	$(BIN) build images/desktop.yml -o $(OUT)/desktop --keys $(KEYS)
	$(BIN) run $(OUT)/desktop --keys $(KEYS) --state $(STATE) --memory 2048 --docker-context hardenvm --no-stdin

# lock re-resolves images/$(IMAGE).yml against the Debian mirrors and
# prints what changed, security updates first.
lock: build
	$(BIN) lock images/$(IMAGE).yml

# lock-check fails when a committed lock is not current: a newer version
# (a security update, say) is in a spec's suites. CI runs it.
lock-check: build
	$(BIN) lock --check images/minimal.yml
	$(BIN) lock --check images/desktop.yml
	$(BIN) lock --check images/minimal-arm64.yml
	$(BIN) lock --check images/desktop-arm64.yml

# test is the command CI runs (.ci/run sets HARDENVM_REQUIRE_QEMU=1 so that
# tests needing QEMU or a peer tool fail instead of skipping).
test: deps kernel cosign vet lock-check
	$(GO) test -count=1 -timeout 40m ./...

test-short:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

# bench runs every benchmark once (-benchtime 1x), side by side with its
# peer, and prints one table of the pairs (test/bench, internal/benchtable:
# a pair benchmark reports ours-<unit>, peer-<unit>, ratio, target-<unit>).
# BENCH narrows the run: make bench BENCH=DesktopBuild BENCH_PKGS=./pkg/imagebuild
BENCH      ?= .
BENCH_PKGS ?= ./...
bench:
	$(GO) run ./test/bench -bench '$(BENCH)' $(BENCH_PKGS)

clean:
	rm -rf bin $(OUT)
