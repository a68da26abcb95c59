#!/usr/bin/env python3
"""Writes clustershell.jsonl: random node sets and name lists with what
ClusterShell gives for them, for TestClusterShellCorpus.

Run with ClusterShell's lib/ on the path (any 1.9 checkout):
  PYTHONPATH=/path/to/clustershell/lib python3 clustershell.py > clustershell.jsonl

Each line is {"in": s, "names": [...], "fold": str} or {"in": s, "err": msg}
(NodeSet(s)), or {"fromlist": [...], "names": [...], "fold": str}
(NodeSet.fromlist). Inputs where grifork departs from ClusterShell on purpose
(negative numbers, node groups, wildcards; see docs/griforkfile.md) are left out.
"""
import json
import random
import re

from ClusterShell.NodeSet import NodeSet, RESOLVER_NOGROUP

random.seed(9)
NUMS = ['0', '1', '2', '3', '5', '9', '10', '01', '02', '09', '010', '001',
        '12', '100', '099', '0100', '660', '44', '044']
ATOMS = ['n', 'a', 'b', 'x', '-', '.', '0', '1', '2', '9', '10', '01', '00',
         '[', ']', ',', '!', '&', '^', ' ', '/', '%', ':', '99', '100']


def a_range():
    form = random.choice(['a', 'a-b', 'a-b/s', 'a,b', 'a-b,c', ' a - b '])
    for key in 'abc':
        form = form.replace(key, random.choice(NUMS), 1)
    return form.replace('s', random.choice(['1', '2', '3', '0', '02']))


def a_nodeset():
    parts = []
    for _ in range(random.randint(1, 4)):
        p = ''
        for _ in range(random.randint(1, 4)):
            r = random.random()
            if r < 0.4:
                p += random.choice(['n', 'a', 'rack', 'b-', 'x', '.', '-', 'n0', 'a1', '2', '01', '0'])
            elif r < 0.85:
                p += '[' + a_range() + ']'
            else:
                p += random.choice(ATOMS)
        parts.append(p)
    out = parts[0]
    for p in parts[1:]:
        out += random.choice([',', ',', '!', '&', '^', ', ', ' ! ']) + p
    return out


def a_name_list():
    dim = random.choice([1, 2, 2, 3, 4])
    pool = [[random.choice(NUMS + ['4', '11', '007']) for _ in range(random.randint(1, 6))]
            for _ in range(dim)]
    seps = [random.choice(['a', 'b-', '.', 'c', 'x_']) for _ in range(dim)]
    seps.append(random.choice(['', '-ipmi', '.z']))
    names = []
    for _ in range(random.randint(1, 40)):
        n = seps[0]
        for d in range(dim):
            n += random.choice(pool[d]) + seps[d + 1]
        names.append(n)
    return names


def emit(s):
    if re.search(r'[\[,]\s*-', s) or any(c in s for c in '@*?'):
        return  # negative numbers, groups, wildcards
    try:
        ns = NodeSet(s, resolver=RESOLVER_NOGROUP)
    except Exception as exc:  # every parse error, whatever its class
        print(json.dumps({'in': s, 'err': str(exc)}))
        return
    if len(ns) <= 300:
        print(json.dumps({'in': s, 'names': list(ns), 'fold': str(ns)}))


for _ in range(1000):
    emit(a_nodeset())
for _ in range(300):
    names = a_name_list()
    ns = NodeSet.fromlist(names, resolver=RESOLVER_NOGROUP)
    print(json.dumps({'fromlist': names, 'names': list(ns), 'fold': str(ns)}))
    half = len(names) // 2 or 1
    left = str(NodeSet.fromlist(names[:half], resolver=RESOLVER_NOGROUP))
    right = str(NodeSet.fromlist(names[half:] or names, resolver=RESOLVER_NOGROUP))
    emit(left + random.choice(['!', '&', '^', ',']) + right)
