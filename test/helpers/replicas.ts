import { underReplicated } from '../../services/cli/src/replicas';

export { closest, holders } from '../../services/cli/src/replicas';

/** Objects not held by exactly their k closest live nodes, as "guid: want [...] have [...]". */
export function misplaced(pods: { address: string; id: string; name: string }[], guids: string[], k: number): Promise<string[]> {
  return underReplicated(pods, guids, k, true);
}

export async function eventually<T>(check: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number, intervalMs = 500): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let value = await check();
  while (!done(value) && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, intervalMs));
    value = await check();
  }
  return { value, ms: Date.now() - start };
}
