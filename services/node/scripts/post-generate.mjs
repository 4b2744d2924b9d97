// Runs after `buf generate`: the generated protobuf code encodes with FlatWriter and decodes
// large `bytes` fields as views (services/node/src/rpc/wire.ts says why). Fails when the
// generated code no longer has the shapes it rewrites, rather than leave the copies in.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const gen = path.join(here, '..', 'src', 'gen');
const wire = path.join(here, '..', 'src', 'rpc', 'wire');

const rewrites = [
  // Top-level encodes start with a FlatWriter; nested ones are handed the caller's writer.
  { from: /writer: BinaryWriter = new BinaryWriter\(\)/g, to: 'writer: BinaryWriter = new FlatWriter()', uses: 'FlatWriter' },
  { from: /Buffer\.from\(reader\.bytes\(\)\)/g, to: 'bytesField(reader.bytes())', uses: 'bytesField' },
  // gRPC serializers: the encoded Buffer as it is.
  { from: /Buffer\.from\((\w+)\.encode\(value\)\.finish\(\)\)/g, to: 'toBuffer($1.encode(value).finish())', uses: 'toBuffer' },
];

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const counts = new Map(rewrites.map((r) => [r.uses, 0]));
for (const file of files(gen)) {
  let text = readFileSync(file, 'utf8');
  const used = new Set();
  for (const r of rewrites) {
    text = text.replace(r.from, (...match) => {
      used.add(r.uses);
      counts.set(r.uses, counts.get(r.uses) + 1);
      return r.to.replace('$1', match[1]);
    });
  }
  if (used.size === 0) continue;
  let spec = path.relative(path.dirname(file), wire).split(path.sep).join('/');
  if (!spec.startsWith('.')) spec = `./${spec}`;
  const importLine = `import { ${[...used].sort().join(', ')} } from "${spec}";\n`;
  // After the file's header comments, before the first import.
  const at = text.indexOf('import ');
  if (at < 0) throw new Error(`${file}: no import to put the wire helpers beside`);
  writeFileSync(file, text.slice(0, at) + importLine + text.slice(at));
}
for (const [helper, n] of counts) {
  if (n === 0) throw new Error(`post-generate: the generated code has nothing for ${helper} to replace; did the generator's output change?`);
}
console.log(`post-generate: ${[...counts].map(([h, n]) => `${h} ${n}`).join(', ')}`);
