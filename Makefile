# capturebox: build, test and run the lecture-capture box firmware.
#
#   make run        the box on HAL fakes against the local Kaltura simulator
#   make test       everything CI checks (gofmt, vet, race, no-cgo, qemu arm64/armv7)
#   make build      host binaries in bin/
#   make build-arm  static ARM binaries (armv7, arm64) with sizes
#   make image      hand over to the Buildroot tree
#   make bench      benchmarks (kept out of make test)
#   make soak       long runs: full-size crash, concurrency and fuzz soaks

GO       ?= go
PKG      := github.com/capturebox/capturebox
VERSION  ?= $(shell git describe --always --dirty --tags 2>/dev/null || echo dev)
LDFLAGS  := -X $(PKG)/firmware.Version=$(VERSION)
BIN      := bin
ENSURE   := scripts/ensure-tools.sh
ARM_PKGS  = $(shell $(GO) list ./... | grep -v /tools/)
# The VM lab's tests boot qemu: they run once, in test-vm, after build-arm.
RACE_PKGS = $(shell $(GO) list ./... | grep -v /tools/vmlab)

export CAPTUREBOX_REQUIRE_NODE    ?= 1
export CAPTUREBOX_REQUIRE_FFPROBE ?= 1
export CAPTUREBOX_REQUIRE_FTPD    ?= 1

.PHONY: all build build-arm test test-fmt test-vet test-race test-nocgo test-qemu test-vm run image bench soak clean tools bench-upload bench-capture

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/capturebox ./firmware/cmd/capturebox
	$(GO) build -o $(BIN)/kalturasim ./tools/cmd/kalturasim

# Static cgo builds for the Pi (platform.md): CXX must be set for
# openh264's C++ bridge; netgo avoids the getaddrinfo warning.
build-arm:
	@$(ENSURE) cross qemu
	@mkdir -p $(BIN)
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ \
		$(GO) build -tags netgo -trimpath -ldflags '-s -w $(LDFLAGS) -extldflags "-static"' \
		-o $(BIN)/capturebox-linux-arm64 ./firmware/cmd/capturebox
	CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc CXX=arm-linux-gnueabihf-g++ \
		$(GO) build -tags netgo -trimpath -ldflags '-s -w $(LDFLAGS) -extldflags "-static"' \
		-o $(BIN)/capturebox-linux-armv7 ./firmware/cmd/capturebox
	@scripts/check-arm.sh $(BIN)/capturebox-linux-arm64 aarch64 $(BIN)/capturebox-linux-armv7 arm

test: test-fmt test-vet test-race test-nocgo test-qemu build-arm test-vm
	@echo "make test: all checks passed"

tools:
	@$(ENSURE) node ffmpeg ftpd

test-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test-vet:
	$(GO) vet ./...

# The full 200-kill crash test and the 200 x 8 MiB concurrent-upload test
# run here: each takes well under two minutes.
test-race: tools
	CAPTUREBOX_CRASH_KILLS=200 KALTURASIM_HEAVY=1 $(GO) test -race -timeout 20m $(RACE_PKGS)

# Everything that is not capture builds and tests without cgo.
test-nocgo:
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build ./...

# The test suite built for arm64 and armv7 and run under qemu-user
# (binfmt_misc is not available, hence -exec).
test-qemu: tools
	@$(ENSURE) qemu
	CAPTUREBOX_TEST_EXEC=qemu-aarch64-static CGO_ENABLED=0 GOOS=linux GOARCH=arm64 \
		$(GO) test -timeout 30m -exec qemu-aarch64-static $(ARM_PKGS)
	CAPTUREBOX_TEST_EXEC=qemu-arm-static CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 \
		$(GO) test -timeout 30m -exec qemu-arm-static $(ARM_PKGS)

# The VM lab (tools/vmlab): Debian's arm64/armhf kernels under qemu TCG.
# The static binaries of build-arm record from vivid's HDMI input there
# and ffprobe checks the files on the host.
test-vm: build-arm
	@$(ENSURE) vmlab ffmpeg
	CAPTUREBOX_REQUIRE_VM=1 $(GO) test -count=1 -timeout 15m ./tools/vmlab/...

# The capture pipeline on this machine: 1080p30 through openh264 to disk.
bench-capture:
	$(GO) test -run '^$$' -bench 'Pipeline' -benchtime 300x -timeout 20m ./board/

run: build
	$(GO) run ./tools/cmd/devrun -sim $(BIN)/kalturasim -box $(BIN)/capturebox

image:
	@if [ ! -f buildroot/external.desc ]; then \
		echo "make image: there is no Buildroot tree in buildroot/ yet (it comes with the SD-image work)"; exit 1; fi
	$(MAKE) -C buildroot

bench: tools
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# The upload acceptance benchmark: a 2 GiB file to the simulator, capturebox
# against one curl request; throughput ratio and the uploader's max RSS.
bench-upload:
	@scripts/bench-upload.sh

# Long runs: 2,000 kills; the fuzz targets for 10 minutes each.
soak: tools
	CAPTUREBOX_CRASH_KILLS=2000 $(GO) test -race -timeout 90m -run 'TestCrashKill$$' ./upload/
	$(GO) test -run '^$$' -fuzz '^FuzzPrepass$$' -fuzztime 10m ./sync/icalparse/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 10m ./sync/icalparse/

clean:
	rm -rf $(BIN) out
