# Compare the proto descriptor compiled into durabletask 1.12.0 with protobuf HEAD text.
import os
HERE = os.path.dirname(os.path.abspath(__file__))
import re, sys
sys.path.insert(0, os.path.join(HERE, 'py'))
from durabletask.internal import orchestrator_service_pb2 as pb
fd = pb.DESCRIPTOR
py = set()
def walk(m, prefix=''):
    for f in m.fields:
        py.add((prefix + m.name, f.name, f.number))
    for n in m.nested_types:
        walk(n, prefix + m.name + '.')
for m in fd.message_types_by_name.values():
    walk(m)
py_rpcs = {me.name for s in fd.services_by_name.values() for me in s.methods}
txt = open(os.path.join(HERE, 'orchestrator_service.proto')).read()  # fetched from durabletask-protobuf at 67a2f1d
head = set(); cur = []
for line in txt.splitlines():
    line = line.split('//')[0]
    m = re.match(r'\s*message\s+(\w+)', line)
    if m: cur.append(m.group(1)); continue
    if re.match(r'\s*(enum|oneof|service)\s+', line): cur.append(None); continue
    if '}' in line and cur: cur.pop(); continue
    m = re.match(r'\s*(?:repeated\s+)?(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*(\d+)', line)
    if m:
        owner = next((c for c in reversed(cur) if c), None)
        if owner: head.add((owner, m.group(1), int(m.group(2))))
head_rpcs = set(re.findall(r'rpc\s+(\w+)', txt))
print('in python not in HEAD:', sorted(py - head))
print('in HEAD not in python:', sorted(head - py))
print('rpcs only python:', py_rpcs - head_rpcs, 'rpcs only HEAD:', head_rpcs - py_rpcs)
