package packaging

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gitfleet/gitfleet/internal/sshtest"
)

// installScript installs a package ($2, of kind $3) on this machine as it
// is, but in a mount namespace of its own where /etc, /usr and /var are
// overlays whose changes land in a tmpfs on $1: the maintainer scripts run
// for real (the user is created, the config kept on upgrade, the files
// removed), and the machine is left as it was when the namespace ends.
const installScript = `set -e
W=$1; PKG=$2; KIND=$3
mount -t tmpfs tmpfs "$W"
for d in etc usr var; do
	mkdir -p "$W/up/$d" "$W/work/$d"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$W/up/$d,workdir=$W/work/$d" "/$d"
done
# man-db's trigger rebuilds its whole index (seconds); in the overlay only.
rm -f /var/lib/man-db/auto-update
if [ "$KIND" = deb ]; then
	install() { dpkg -i "$PKG"; }
	remove() { dpkg -r gitfleet; }
else
	install() { rpm -U --replacepkgs --nodeps "$PKG"; }
	remove() { rpm -e gitfleet; }
fi
state() { if [ -e "$1" ]; then echo present; else echo gone; fi; }

install >&2
echo "user: $(getent passwd gitfleet)"
echo "ssh: $(stat -c '%a %U %G' /etc/gitfleet/ssh)"
echo "version: $(/usr/bin/gitfleet version | head -n 1)"
echo "# edited by the test" >> /etc/gitfleet/gitfleet.yaml
install >&2
echo "kept: $(tail -n 1 /etc/gitfleet/gitfleet.yaml)"
remove >&2
echo "binary: $(state /usr/bin/gitfleet)"
echo "unit: $(state /usr/lib/systemd/system/gitfleet.service)"
echo "keys: $(state /etc/gitfleet/ssh)"
if [ "$KIND" = deb ]; then
	echo "config: $(state /etc/gitfleet/gitfleet.yaml)"
	dpkg -P gitfleet >&2
	echo "purged config: $(state /etc/gitfleet/gitfleet.yaml)"
else
	echo "config: $(state /etc/gitfleet/gitfleet.yaml.rpmsave)"
fi
`

// TestPackagesInstallUpgradeAndRemove installs the .deb with dpkg and the
// .rpm with rpm, installs each again over itself (an upgrade: postinstall
// runs with configure or 2), then removes it.
func TestPackagesInstallUpgradeAndRemove(t *testing.T) {
	if os.Geteuid() != 0 {
		sshtest.Skip(t, "installing a package, even in a mount namespace, needs root")
	}
	need(t, "unshare", "util-linux")
	b := fixture(t)
	for _, kind := range []string{"deb", "rpm"} {
		t.Run(kind, func(t *testing.T) {
			pkg, tool := b.deb, "dpkg"
			if kind == "rpm" {
				pkg, tool = b.rpm, "rpm"
			}
			need(t, tool, tool)
			cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", installScript, "sh", t.TempDir(), pkg, kind)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("install in a namespace: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				k, v, _ := strings.Cut(line, ": ")
				got[k] = v
			}
			want := map[string]string{
				"ssh":    "750 root gitfleet",
				"kept":   "# edited by the test",
				"binary": "gone",
				"unit":   "gone",
				"keys":   "present",
				"config": "present",
			}
			if kind == "deb" {
				want["purged config"] = "gone"
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
			if u := strings.Split(got["user"], ":"); len(u) != 7 || u[0] != "gitfleet" || u[5] != "/var/lib/gitfleet" || !strings.HasSuffix(u[6], "/nologin") {
				t.Errorf("user: %q, want gitfleet with home /var/lib/gitfleet and no login shell", got["user"])
			}
			if !strings.HasPrefix(got["version"], "gitfleet v9.8.7 (") {
				t.Errorf("installed gitfleet version: %q", got["version"])
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr.String())
			}
		})
	}
}
