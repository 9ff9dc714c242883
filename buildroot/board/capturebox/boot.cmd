# boot.cmd: U-Boot's A/B boot chooser on the Pi (compiled to boot.scr).
# It follows bootstate.sh (rootfs-overlay/usr/libexec/capturebox), the one
# home of the rules, step by step: read rauc.env from the FAT partition,
# take the first slot in BOOT_ORDER with boots left, spend one if the slot
# is in trial, write rauc.env back, boot the slot's kernel with rauc.slot=.
# Slot A is partition 2, slot B partition 3.

setenv BOOT_ORDER "A B"
setenv BOOT_A_LEFT 3
setenv BOOT_B_LEFT 0
setenv BOOT_A_TRIAL 0
setenv BOOT_B_TRIAL 0
if fatload mmc 0:1 ${loadaddr} rauc.env; then
	env import -t ${loadaddr} ${filesize} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT BOOT_A_TRIAL BOOT_B_TRIAL
fi

setenv chosen
for s in ${BOOT_ORDER}; do
	if test -z "${chosen}"; then
		if test "${s}" = "A"; then
			setenv left ${BOOT_A_LEFT}; setenv trial ${BOOT_A_TRIAL}
		else
			setenv left ${BOOT_B_LEFT}; setenv trial ${BOOT_B_TRIAL}
		fi
		if test ${left} -gt 0; then
			setenv chosen ${s}
			if test "${trial}" = "1"; then
				setexpr left ${left} - 1
				setenv BOOT_${s}_LEFT ${left}
			fi
		fi
	fi
done
if test -z "${chosen}"; then
	for s in ${BOOT_ORDER}; do
		if test -z "${chosen}"; then
			setenv chosen ${s}
			setenv BOOT_${s}_LEFT 3
			setenv BOOT_${s}_TRIAL 0
		fi
	done
fi

env export -t ${loadaddr} BOOT_ORDER BOOT_A_LEFT BOOT_B_LEFT BOOT_A_TRIAL BOOT_B_TRIAL
fatwrite mmc 0:1 ${loadaddr} rauc.env ${filesize}

if test "${chosen}" = "A"; then setenv part 2; else setenv part 3; fi
setenv bootargs "root=/dev/mmcblk0p${part} rootfstype=ext4 rootwait ro rauc.slot=${chosen} console=tty1 quiet"
load mmc 0:${part} ${kernel_addr_r} kernel/Image
booti ${kernel_addr_r} - ${fdt_addr}
