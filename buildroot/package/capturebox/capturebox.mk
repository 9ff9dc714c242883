################################################################################
#
# capturebox
#
################################################################################

# The source is the vendored tarball that "make image" (the capturebox
# repository's Makefile) writes to CAPTUREBOX_TARBALL_DIR before it runs
# Buildroot: Buildroot builds Go with -mod=vendor and GOPROXY=off, and an
# archive that already holds vendor/ is used as it is.
CAPTUREBOX_VERSION = dev
CAPTUREBOX_TARBALL_DIR = $(BR2_EXTERNAL_CAPTUREBOX_PATH)/../out/dl
CAPTUREBOX_SOURCE = capturebox-$(CAPTUREBOX_VERSION)-vendored.tar.gz
CAPTUREBOX_SITE = file://$(CAPTUREBOX_TARBALL_DIR)
CAPTUREBOX_SITE_METHOD = file
# Made from the working tree by "make image", so it has no fixed hash:
# capturebox.hash holds none for it.
BR_NO_CHECK_HASH_FOR += $(CAPTUREBOX_SOURCE)
CAPTUREBOX_LICENSE = Proprietary

CAPTUREBOX_GOMOD = github.com/capturebox/capturebox
CAPTUREBOX_BUILD_TARGETS = firmware/cmd/capturebox
CAPTUREBOX_BIN_NAME = capturebox
CAPTUREBOX_TAGS = netgo osusergo

# cgo with Buildroot's toolchain (CC and CXX come from HOST_GO_TARGET_ENV);
# the binary is static through its own external linker flags, not
# BR2_STATIC_LIBS (which turns cgo off).
CAPTUREBOX_GO_ENV = CGO_ENABLED=1
CAPTUREBOX_EXTLDFLAGS = -static
CAPTUREBOX_LDFLAGS = -s -w -X $(CAPTUREBOX_GOMOD)/firmware.Version=$(CAPTUREBOX_VERSION)

$(eval $(golang-package))
