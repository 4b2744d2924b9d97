/** The simulator's random numbers are the node's seeded generator. */
export * from '../../node/src/core/rng';
