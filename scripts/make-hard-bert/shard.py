#!/usr/bin/env python3
"""Splits models/bert6-hard/model.safetensors into shards as transformers' save_pretrained(max_shard_size=...)
lays them out (model-0000K-of-0000N.safetensors + model.safetensors.index.json), so no file in the
repository is over 20 MiB. Tensors keep their order, dtype and bytes; each shard is a plain safetensors
file (8-byte header length, JSON header, data). Python stdlib only.
    python3 scripts/make-hard-bert/shard.py models/bert6-hard [--max-mib 15]"""
import json, os, struct, sys

def main():
    folder = sys.argv[1]
    max_bytes = int(float(sys.argv[sys.argv.index('--max-mib') + 1]) * 2**20) if '--max-mib' in sys.argv else 15 * 2**20
    src = os.path.join(folder, 'model.safetensors')
    with open(src, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        meta = header.pop('__metadata__', None)
        names = sorted(header, key=lambda k: header[k]['data_offsets'][0])
        groups, cur, size = [], [], 0
        for name in names:
            a, b = header[name]['data_offsets']
            if cur and size + (b - a) > max_bytes:
                groups.append(cur); cur, size = [], 0
            cur.append(name); size += b - a
        groups.append(cur)
        weight_map, total = {}, 0
        for i, group in enumerate(groups, 1):
            shard = f'model-{i:05d}-of-{len(groups):05d}.safetensors'
            h, blobs, off = {}, [], 0
            for name in group:
                a, b = header[name]['data_offsets']
                f.seek(base + a); data = f.read(b - a)
                h[name] = {'dtype': header[name]['dtype'], 'shape': header[name]['shape'], 'data_offsets': [off, off + len(data)]}
                blobs.append(data); off += len(data); total += len(data); weight_map[name] = shard
            if meta is not None: h = {'__metadata__': meta, **h}
            hb = json.dumps(h, separators=(',', ':')).encode()
            hb += b' ' * (-len(hb) % 8)  # safetensors pads the header to 8 bytes
            with open(os.path.join(folder, shard), 'wb') as out:
                out.write(struct.pack('<Q', len(hb))); out.write(hb)
                for blob in blobs: out.write(blob)
            print(shard, off, 'bytes,', len(group), 'tensors')
    with open(os.path.join(folder, 'model.safetensors.index.json'), 'w') as out:
        json.dump({'metadata': {'total_size': total}, 'weight_map': dict(sorted(weight_map.items()))}, out, indent=2)
        out.write('\n')
    os.remove(src)

main()
