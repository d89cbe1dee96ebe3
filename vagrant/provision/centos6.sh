#!/bin/sh
# The source machine: CentOS 6's iptables 1.4.7 loads the founding ruleset, as the original
# hosts did at boot. The vault mirror is used because CentOS 6 left the main mirrors.
set -eu
if ! command -v iptables-restore >/dev/null 2>&1; then
    sed -i -e 's/^mirrorlist=/#mirrorlist=/' \
        -e 's|^#baseurl=http://mirror.centos.org/centos/$releasever|baseurl=http://vault.centos.org/6.10|' \
        /etc/yum.repos.d/CentOS-Base.repo
    yum -y -q install iptables
fi
iptables --version
# The ruleset allows ssh (with a hashlimit) and established traffic: vagrant ssh keeps working.
iptables-restore < /fwnet/centos6-web.rules
service iptables save >/dev/null 2>&1 || true
iptables-save | head -n 3
