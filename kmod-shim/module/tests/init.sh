#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "=== insmod"; insmod /pnfs_shim.ko && echo INSMOD-OK
/bin/smoke &
SP=$!
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do [ -d /proc/$SP ] || break; sleep 1; done
if [ -d /proc/$SP ]; then echo HUNG; echo 1 > /proc/sys/kernel/sysrq; echo w > /proc/sysrq-trigger; sleep 1; dmesg | tail -120; fi
echo "=== rmmod"; rmmod pnfs_shim && echo RMMOD-OK
echo "=== reload + trigger with silent daemon then rmmod"
insmod /pnfs_shim.ko && echo INSMOD2-OK
/bin/smoke-silent &
sleep 3
rmmod pnfs_shim && echo RMMOD2-OK
sleep 1
dmesg | grep -iE "pnfs|BUG|WARN|Oops|leak" | head -20
echo DONE
poweroff -f
