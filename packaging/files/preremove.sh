#!/bin/sh
# gitfleet preremove (.deb prerm, .rpm %preun): on removal (not on upgrade),
# stop and disable the service. Stopping lets the steps under way finish
# (up to TimeoutStopSec of gitfleet.service).
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl --no-reload disable --now gitfleet.service >/dev/null 2>&1 || true
fi
exit 0
