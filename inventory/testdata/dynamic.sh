#!/bin/sh
# A dynamic inventory: --list prints the groups and _meta hostvars.
[ "$1" = --list ] || { echo '{}'; exit 0; }
cat <<'JSON'
{
  "edge": {"hosts": ["edge1", "edge2"], "vars": {"ansible_user": "edgeop"}},
  "core": ["core1"],
  "dc": {"children": ["edge", "core"], "vars": {"ansible_port": 2200}},
  "_meta": {"hostvars": {"edge2": {"ansible_host": "203.0.113.2", "ansible_port": 22}}}
}
JSON
