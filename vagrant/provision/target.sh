#!/bin/sh
# A target machine: install the static fwnet from the synced folder, then import what CentOS 6
# saved and check, apply, read back and verify it. Exits non-zero on the first failure, which
# fails `vagrant up` and so the target's line in `cargo xtask vagrant-test`.
set -eu
name=$1
install -m 0755 /fwnet/fwnet /usr/local/bin/fwnet
# fwnet verify runs the legacy kernel as its oracle: it needs iptables-legacy-restore.
if ! command -v iptables-legacy-restore >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get -qq update
        DEBIAN_FRONTEND=noninteractive apt-get -qq install -y iptables iproute2
    elif [ "$name" = rocky9 ]; then
        dnf -y -q install epel-release
        dnf -y -q install iptables-legacy iproute
    else
        # CentOS 7's iptables is the legacy one under its plain name.
        yum -y -q install iptables iproute
        ln -sf "$(command -v iptables-restore)" /usr/local/bin/iptables-legacy-restore
        ln -sf "$(command -v iptables-save)" /usr/local/bin/iptables-legacy-save
    fi
fi
modprobe nf_tables 2>/dev/null || true
echo "== $name: kernel $(uname -r)"
state=/var/tmp/fwnet-vagrant
rm -rf "$state"
step() {
    echo "== $name: $*"
    "$@"
}
step fwnet import --state-dir "$state" /fwnet/centos6.save
step fwnet apply --check --state-dir "$state"
step fwnet apply --state-dir "$state"
step fwnet status --state-dir "$state"
step fwnet verify /fwnet/centos6.save
# Leave the machine as it was: take fwnet's tables out again.
step fwnet rollback --state-dir "$state"
echo "== $name: ok"
