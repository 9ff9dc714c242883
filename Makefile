# capturebox: build, test and run the lecture-capture box firmware.
#
#   make run        the box on HAL fakes against the local Kaltura simulator
#   make test       everything CI checks (gofmt, vet, race, no-cgo, qemu arm64/armv7)
#   make build      host binaries in bin/
#   make build-arm  static ARM binaries (armv7, arm64) with sizes
#   make image      SD card image and signed update bundle (BOARD=rpi4; Buildroot, network)
#   make test-image the Buildroot tree's offline checks (part of make test)
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
export CAPTUREBOX_REQUIRE_PROMTOOL ?= 1
export CAPTUREBOX_REQUIRE_CHROMIUM ?= 1

.PHONY: all build build-arm test test-fmt test-vet test-race test-nocgo test-qemu run image bench soak clean tools bench-upload bench-schedule test-vm-board test-image test-vm bench-capture bench-status

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

# The host as make found it (the temporary directory's mode, the services
# enabled at boot); the last step of make test checks the tests left it so.
HOST_STATE := $(shell scripts/host-state.sh snapshot)

test: test-fmt test-vet test-race test-nocgo test-qemu build-arm test-vm test-vm-board test-image
	@scripts/host-state.sh compare '$(HOST_STATE)'
	@echo "make test: all checks passed"

tools:
	@$(ENSURE) node ffmpeg ftpd promtool chromium

test-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test-vet:
	$(GO) vet ./...

# The full 200-kill crash test and the 200 x 8 MiB concurrent-upload test
# run here: each takes well under two minutes.
# scripts/in-ramdir.sh: TMPDIR on /dev/shm (fsyncs were most of the time).
# As root the disk tests (a real full tmpfs, a read-only bind mount, in a
# private mount namespace) must run, not skip.
REQUIRE_MOUNT ?= $(if $(filter 0,$(shell id -u)),1,0)
test-race: tools
	CAPTUREBOX_REQUIRE_MOUNT=$(REQUIRE_MOUNT) CAPTUREBOX_CRASH_KILLS=200 KALTURASIM_HEAVY=1 scripts/in-ramdir.sh $(GO) test -race -timeout 20m $(RACE_PKGS)

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
		scripts/in-ramdir.sh $(GO) test -timeout 30m -exec qemu-aarch64-static $(ARM_PKGS)
	CAPTUREBOX_TEST_EXEC=qemu-arm-static CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 \
		scripts/in-ramdir.sh $(GO) test -timeout 30m -exec qemu-arm-static $(ARM_PKGS)

# The board on real kernel drivers under qemu (the VM lab): board probe and
# the LED check on an emulated Raspberry Pi 3, a console session over the
# PL011 UART with the Kaltura simulator on the host.
test-vm-board:
	@$(ENSURE) vmlab
	CAPTUREBOX_REQUIRE_VM=1 $(GO) test -count=1 -timeout 30m -v ./tools/vmboard

# The VM lab (tools/vmlab): Debian's arm64/armhf kernels under qemu TCG.
# The static binaries of build-arm record from vivid's HDMI input there
# and ffprobe checks the files on the host.
# TestPowerCut kills qemu 20 times while the box records to an ext4 disk
# image (mkfs.ext4 and debugfs: the image group).
test-vm: build-arm
	@$(ENSURE) vmlab ffmpeg image
	CAPTUREBOX_REQUIRE_VM=1 $(GO) test -count=1 -timeout 25m -v ./tools/vmlab/...

# The capture pipeline on this machine: 1080p30 through openh264, a
# pass-through encoder and the fake bcm2835-codec (V4L2 M2M) to disk, and
# the M2M encoder alone.
bench-capture:
	$(GO) test -run '^$$' -bench 'Pipeline|M2MEncodeFake' -benchtime 300x -timeout 20m ./board/


# The status page's render in headless chromium on loopback (50 renders:
# mean, worst and load-event times) and the box's side of it.
bench-status:
	@$(ENSURE) chromium
	CAPTUREBOX_REQUIRE_CHROMIUM=1 $(GO) test -run '^$$' -bench 'StatusPage(Render|Serve)' -benchtime 50x -timeout 20m ./firmware/

# The development box is a build of its own (-tags dev): the firmware binary
# links none of the HAL fakes (firmware/fences_test.go).
run: build
	$(GO) build -tags dev -ldflags '$(LDFLAGS)' -o $(BIN)/capturebox-dev ./firmware/cmd/capturebox
	$(GO) build -o $(BIN)/devrun ./tools/cmd/devrun
	@$(BIN)/devrun -sim $(BIN)/kalturasim -box $(BIN)/capturebox-dev

# The SD card image and the signed RAUC bundle of one board (rpizero2w,
# rpi3, rpi4, rpi5) through Buildroot at the tag in buildroot/BUILDROOT_VERSION
# (cloned into out/ unless BUILDROOT_DIR names a checkout). Needs network.
BOARD ?= rpi4
image:
	CAPTUREBOX_VERSION=$(VERSION) scripts/image/build.sh $(BOARD)

# Offline proof of the image: tree checks, shellcheck, A/B rules, a signed
# bundle with Debian's rauc, the card's layout with Debian's genimage, and
# that card booted in the VM lab (Debian's kernel and busybox standing in).
test-image:
	@$(ENSURE) image vmlab
	scripts/image/test-image.sh
	scripts/image/fetch-vm-userland.sh
	CAPTUREBOX_IMAGE_VM=1 CAPTUREBOX_REQUIRE_VM=1 $(GO) test -count=1 -v -timeout 6m ./tools/imagevm/

bench: tools
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# The upload acceptance benchmark: a 2 GiB file to the simulator, capturebox
# against one curl request; throughput ratio and the uploader's max RSS.
bench-upload:
	@scripts/bench-upload.sh

# The schedule acceptance measurement: the 10,000-event listing and the
# hostile inputs of issue 14 through `capturebox schedule`, each under
# 64 MiB peak RSS (whole process) and 2 s.
bench-schedule:
	@$(ENSURE) bench
	@scripts/bench-schedule.sh

# Long runs: 2,000 kills; the fuzz targets for 10 minutes each.
soak: tools
	CAPTUREBOX_CRASH_KILLS=2000 $(GO) test -race -timeout 90m -run 'TestCrashKill$$' ./upload/
	$(GO) test -run '^$$' -fuzz '^FuzzPrepass$$' -fuzztime 10m ./sync/icalparse/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 10m ./sync/icalparse/

clean:
	rm -rf $(BIN) out
