/** A command-line mistake: reported with a clear message and exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type FlagSpec =
  | { type: 'int'; default: number; min: number; max: number; help: string }
  | { type: 'float'; default: number; min: number; max: number; help: string }
  | { type: 'choice'; default: string; choices: readonly string[]; help: string }
  | { type: 'string'; default: string | undefined; help: string }
  | { type: 'bool'; help: string };

export type FlagSpecs = Record<string, FlagSpec>;

export type FlagValues<S extends FlagSpecs> = {
  [K in keyof S]: S[K] extends { type: 'int' | 'float' }
    ? number
    : S[K] extends { type: 'bool' }
      ? boolean
      : S[K] extends { type: 'string' }
        ? string | undefined
        : string;
};

/** Parses `--name value` / `--flag` arguments against the specs; anything else is a UsageError. */
export function parseFlags<S extends FlagSpecs>(argv: readonly string[], specs: S): FlagValues<S> {
  const values: Record<string, number | string | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = spec.type === 'bool' ? false : spec.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const [name, inline] = splitInline(arg.slice(2));
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option --${name}`);
    if (spec.type === 'bool') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    values[name] = convert(name, spec, raw);
  }
  return values as FlagValues<S>;
}

function splitInline(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return eq < 0 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
}

function convert(name: string, spec: Exclude<FlagSpec, { type: 'bool' }>, raw: string): number | string {
  switch (spec.type) {
    case 'int':
    case 'float': {
      const value = raw.trim() === '' ? Number.NaN : Number(raw.replace(/_/g, ''));
      if (!Number.isFinite(value) || (spec.type === 'int' && !Number.isInteger(value))) {
        throw new UsageError(`--${name} must be ${spec.type === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
      }
      if (value < spec.min || value > spec.max) throw new UsageError(`--${name} must be between ${spec.min} and ${spec.max}, got ${value}`);
      return value;
    }
    case 'choice':
      if (!spec.choices.includes(raw)) throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    case 'string':
      if (raw === '') throw new UsageError(`--${name} needs a non-empty value`);
      return raw;
  }
}

/** One help line per flag: name, default and description. */
export function describeFlags(specs: FlagSpecs): string[] {
  return Object.entries(specs).map(([name, spec]) => {
    const value = spec.type === 'bool' ? '' : spec.type === 'choice' ? ` <${spec.choices.join('|')}>` : ' <value>';
    const def = spec.type === 'bool' || spec.default === undefined ? '' : ` (default ${spec.default})`;
    return `  --${name}${value}`.padEnd(34) + spec.help + def;
  });
}
