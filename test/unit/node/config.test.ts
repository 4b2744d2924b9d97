import { ConfigError, flagName, helpText, loadConfig, SETTINGS, type SettingName } from '../../../services/node/src/config';

describe('node configuration', () => {
  it('has documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 7000,
      advertiseAddress: '127.0.0.1:7000',
      seeds: [],
      founder: false,
      metricsPort: 9464,
      leafSetSize: 16,
      neighborhoodSize: 16,
      maxValueBytes: 1048576,
      store: 'memory',
      replicas: 3,
    });
  });

  it('reads environment variables, and flags win over them', () => {
    const env = { PASTRY_PORT: '7100', PASTRY_SEEDS: 'a:1, b:2', PASTRY_NODE_NAME: 'pastry-0', PASTRY_FOUNDER_NAME: 'pastry-0' };
    const c = loadConfig(env, ['--port', '7200', '--leaf-set-size=8']);
    expect(c.port).toBe(7200);
    expect(c.leafSetSize).toBe(8);
    expect(c.seeds).toEqual(['a:1', 'b:2']);
    expect(c.founder).toBe(true);
    expect(loadConfig({ ...env, PASTRY_NODE_NAME: 'pastry-1' }).founder).toBe(false);
  });

  it('every setting has a flag twin named after its variable', () => {
    for (const name of Object.keys(SETTINGS) as SettingName[]) {
      expect(flagName(name)).toBe('--' + SETTINGS[name].env.slice('PASTRY_'.length).toLowerCase().replace(/_/g, '-'));
      expect(helpText()).toContain(SETTINGS[name].env);
    }
  });

  it.each([
    [{ PASTRY_PORT: 'http' }, /PASTRY_PORT must be an integer/],
    [{ PASTRY_PORT: '70000' }, /PASTRY_PORT must be an integer from 0 to 65535/],
    [{ PASTRY_LEAF_SET_SIZE: '7' }, /must be even/],
    [{ PASTRY_STORE: 'disk' }, /memory or redis/],
    [{ PASTRY_SEEDS: 'nohost' }, /PASTRY_SEEDS needs host:port/],
    [{ PASTRY_FOUNDER: 'maybe' }, /true or false/],
    [{ PASTRY_LOG_LEVEL: 'loud' }, /PASTRY_LOG_LEVEL/],
    [{ PASTRY_ID_SCHEME: 'random' }, /PASTRY_ID_SCHEME must be name or spread/],
    [{ PASTRY_ID_SCHEME: 'spread', PASTRY_NODE_NAME: 'node' }, /<set>-<ordinal>/],
  ])('rejects %j', (env, message) => {
    expect(() => loadConfig(env as NodeJS.ProcessEnv)).toThrow(ConfigError);
    expect(() => loadConfig(env as NodeJS.ProcessEnv)).toThrow(message);
  });

  it('rejects unknown flags and flags without a value', () => {
    expect(() => loadConfig({}, ['--nope', '1'])).toThrow(/unknown option --nope/);
    expect(() => loadConfig({}, ['--port'])).toThrow(/needs a value/);
  });
});
