/**
 * Parses a pod list as `cluster partition` and `cluster delay` take it: a comma list of pod
 * names (`pastry-3`), ordinals (`3`) and ranges of ordinals (`0-5`). Returns the pods' names
 * in ordinal order, each once; anything that is not a pod of the ring is an error.
 */
export function parsePodList(spec: string, pods: readonly { name: string; ordinal: number }[]): string[] {
  if (spec.trim() === '') throw new Error('empty pod list: give names or ordinals, like 0,1 or 0-3 or pastry-0,pastry-3');
  const byOrdinal = new Map(pods.map((p) => [p.ordinal, p.name]));
  const byName = new Map(pods.map((p) => [p.name, p.name]));
  const chosen = new Set<string>();
  const known = (ordinal: number, item: string): string => {
    const name = byOrdinal.get(ordinal);
    if (name === undefined) throw new Error(`no pod with ordinal ${ordinal} (in ${JSON.stringify(item)}); the ring has ${describe(pods)}`);
    return name;
  };
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    const range = /^(\d+)-(\d+)$/.exec(item);
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (from > to) throw new Error(`bad range ${JSON.stringify(item)}: the first ordinal must not exceed the second`);
      for (let i = from; i <= to; i++) chosen.add(known(i, item));
    } else if (/^\d+$/.test(item)) {
      chosen.add(known(Number(item), item));
    } else if (byName.has(item)) {
      chosen.add(item);
    } else {
      throw new Error(`bad pod ${JSON.stringify(item)} in ${JSON.stringify(spec)}: give a pod name, an ordinal or a range like 0-3; the ring has ${describe(pods)}`);
    }
  }
  const order = new Map(pods.map((p) => [p.name, p.ordinal]));
  return [...chosen].sort((a, b) => order.get(a)! - order.get(b)!);
}

function describe(pods: readonly { name: string }[]): string {
  return pods.length === 0 ? 'no pods' : pods.length <= 4 ? pods.map((p) => p.name).join(', ') : `${pods[0]!.name} … ${pods[pods.length - 1]!.name}`;
}
