import { runSimCommand } from '../../../services/sim/src/cli';

async function run(...argv: string[]): Promise<{ code: number; text: string; lines: string[] }> {
  const lines: string[] = [];
  const code = await runSimCommand(argv, (l) => lines.push(l));
  return { code, text: lines.join('\n'), lines };
}

describe('pastry sim', () => {
  it('prints help with every experiment', async () => {
    const { code, text } = await run('help');
    expect(code).toBe(0);
    for (const name of ['hops', 'distance', 'failures', 'replicas', 'scale']) expect(text).toContain(name);
    const hops = await run('help', 'hops');
    expect(hops.text).toContain('--nodes');
    expect(hops.text).toContain('--seed');
  });

  it('hops --json prints exactly the documented object', async () => {
    const { code, lines } = await run('hops', '--nodes', '300', '--lookups', '400', '--seed', '1', '--json');
    expect(code).toBe(0);
    const r = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(r).slice(0, 6)).toEqual(['nodes', 'lookups', 'meanHops', 'maxHops', 'distribution', 'correct']);
    expect(r.nodes).toBe(300);
    expect(r.lookups).toBe(400);
    expect(r.correct).toBe(1);
    expect(r.build).toBe('oracle');
  });

  it('prints a table beside the paper without --json', async () => {
    const { code, text } = await run('hops', '--nodes', '300', '--lookups', '200');
    expect(code).toBe(0);
    expect(text).toMatch(/mean hops\s+\S+\s+3\.98/);
  });

  it.each([
    [['hops', '--nodes', 'abc'], /--nodes must be an integer/],
    [['hops', '--nodes', '0'], /--nodes must be between/],
    [['hops', '--frob'], /unknown option --frob/],
    [['hops', '--build', 'magic'], /--build must be one of join, oracle/],
    [['hops', '--lookups'], /--lookups needs a value/],
    [['hops', 'stray'], /unexpected argument/],
    [['teleport'], /unknown experiment "teleport"/],
    [['hops', '--nodes', '5', '--matrix-file', '/nonexistent/matrix.json'], /ENOENT/],
  ])('rejects %j with exit code 2', async (argv, message) => {
    const { code, text } = await run(...argv);
    expect(code).toBe(2);
    expect(text).toMatch(message);
  });

  it('runs the other experiments at small size', async () => {
    const small = ['--nodes', '200', '--lookups', '200', '--build', 'oracle', '--json'];
    const distance = JSON.parse((await run('distance', ...small)).lines[0]!) as { ratio: number; correct: number };
    expect(distance.ratio).toBeGreaterThan(1);
    expect(distance.correct).toBe(1);
    const replicas = JSON.parse((await run('replicas', ...small)).lines[0]!) as { nearestFirst: number };
    expect(replicas.nearestFirst).toBeGreaterThan(0.2);
    const failures = JSON.parse((await run('failures', ...small)).lines[0]!) as { failed: number; afterRepair: { correct: number } };
    expect(failures.failed).toBe(20);
    expect(failures.afterRepair.correct).toBe(1);
    const scale = JSON.parse((await run('scale', ...small)).lines[0]!) as { rssMb: number; correct: number };
    expect(scale.rssMb).toBeGreaterThan(0);
    expect(scale.correct).toBe(1);
  });
});
