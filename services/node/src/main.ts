#!/usr/bin/env node
import { ConfigError, helpText, loadConfig } from './config';
import { PastryNode } from './node';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  let config;
  try {
    config = loadConfig(process.env, argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`pastry-node: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const node = new PastryNode(config);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    node.log.info('shutdown', { signal });
    const timer = setTimeout(() => process.exit(1), config.shutdownGraceMs + 1000);
    timer.unref();
    node.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await node.start();
}

main().catch((error: unknown) => {
  process.stderr.write(`pastry-node: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
