#!/bin/bash
# alias: an alias of another template's instance (systemd's TEST-15-DROPIN family). Only
# yup@.service exists; bar-alias@3.service is a symlink to yup@3.service. The unit is yup@3.service,
# and the drop-ins of bar-alias@.service.d/ and bar-alias@3.service.d/ are its own: a
# BindNetworkInterface= set only there binds yup@3.service (262 natively, the package's generator
# before 260), and the instance-level drop-in wins over the template-level one.
# layouts: unified hybrid legacy
. "$VMTEST_LIB"
[ -x "$BINDIF" ] || fail "no bindif-launch binary in the guest ($BINDIF)"
install_generator
vrf_add vrf-al 81 127.0.0.1/8
vrf_add vrf-al3 82 127.0.0.1/8
d=/etc/systemd/system
unit_write yup@.service <<EOF2
[Service]
ExecStart=/usr/bin/python3 $HELPERS/listen.py 127.0.0.1 99%i
EOF2
ln -sf $d/yup@3.service $d/bar-alias@3.service
ln -sf $d/yup@4.service $d/bar-alias@4.service
cleanup "rm -rf $d/bar-alias@3.service $d/bar-alias@4.service $d/bar-alias@.service.d $d/bar-alias@3.service.d"
mkdir -p $d/bar-alias@.service.d $d/bar-alias@3.service.d
printf '[Service]\nBindNetworkInterface=vrf-al\n' > $d/bar-alias@.service.d/bind.conf
printf '[Service]\nBindNetworkInterface=vrf-al3\n' > $d/bar-alias@3.service.d/bind.conf
reload
start yup@3.service bar-alias@4.service
wait_for sh -c 'ss -Htln | grep -q ":993 " && ss -Htln | grep -q ":994 "' || true
ids="$(systemctl show -p Id --value bar-alias@3.service) $(systemctl show -p Id --value bar-alias@4.service)"
l3=$(ss_port 993 | awk '{print $4}') l4=$(ss_port 994 | awk '{print $4}')
evidence "ids: $ids; yup@3 listener $l3, yup@4 listener $l4"
evidence "drop-ins of yup@3: $(systemctl show -p DropInPaths --value yup@3.service)"
[ "$SYSTEMD_VERSION" -lt 252 ] || record "unit ids" "$ids"
record "yup@3 (instance drop-in of the alias)" "$l3"
record "yup@4 (template drop-in of the alias)" "$l4"
# which name `systemctl show` reports for an alias not loaded under it is systemd's own business:
# 247 reports the alias itself (the binding below is what this scenario is about)
if [ "$SYSTEMD_VERSION" -ge 252 ]; then
    check "bar-alias@3.service is yup@3.service" [ "${ids%% *}" = yup@3.service ]
else
    evidence "systemd $SYSTEMD_VERSION: systemctl show -p Id bar-alias@3.service says ${ids%% *}"
fi
check "yup@3 bound by bar-alias@3.service.d/ (instance level wins)" [ "$l3" = "127.0.0.1%vrf-al3:993" ]
check "yup@4 bound by bar-alias@.service.d/" [ "$l4" = "127.0.0.1%vrf-al:994" ]
verdict "yup@3 $l3, yup@4 $l4"
