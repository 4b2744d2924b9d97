export * from './id';
export * from './node-handle';
export * from './leaf-set';
export * from './routing-table';
export * from './neighborhood-set';
export * from './routing-state';
export * from './join';
export * from './replicas';
