#!/bin/sh
# gitfleet postinstall (.deb postinst, .rpm %post): create the user gitfleet
# and /etc/gitfleet/ssh, and tell systemd about the unit. The service is
# neither enabled nor started, nor restarted on upgrade: the configuration
# must be edited first, and a restart waits for the steps under way (up to
# TimeoutStopSec), so the operator chooses when (docs/install.md).
set -e

case "$1" in
configure | [1-9]*) ;;
*) exit 0 ;;
esac

if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/gitfleet.conf
elif ! getent passwd gitfleet >/dev/null 2>&1; then
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/sbin/nologin
	useradd --system --user-group --home-dir /var/lib/gitfleet --no-create-home \
		--shell "$nologin" --comment "gitfleet daemon" gitfleet
fi

# Keys and known_hosts: readable by the daemon, writable by root only.
if [ ! -d /etc/gitfleet/ssh ]; then
	install -d -m 0750 -o root -g gitfleet /etc/gitfleet/ssh
fi

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if systemctl is-active --quiet gitfleet.service; then
		echo "gitfleet: the running daemon is still the old version; restart it when no rollout should be cut short:"
		echo "  systemctl restart gitfleet    (one replica at a time when clustered)"
	fi
fi
exit 0
