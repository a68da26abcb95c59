#!/bin/sh
# A dynamic inventory without _meta: Ansible asks --host for each host's vars.
case "$1" in
--list) echo '{"app": {"hosts": ["a1", "a2"], "vars": {"ansible_port": 2022}}, "solo": ["s1"]}' ;;
--host) case "$2" in a1) echo '{"ansible_host": "192.0.2.1", "ansible_user": "ops"}' ;; *) echo '{}' ;; esac ;;
esac
