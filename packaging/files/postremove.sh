#!/bin/sh
# gitfleet postremove (.deb postrm, .rpm %postun): tell systemd the unit is
# gone. The user gitfleet, /var/lib/gitfleet (history, records, caches) and
# /etc/gitfleet/ssh (keys) are kept, also on purge: remove them by hand
# (docs/install.md, "Removing").
set -e

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
