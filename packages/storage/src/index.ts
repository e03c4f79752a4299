// Public API of @holdfast/storage.
export * from './errors.js';
export * from './wal/index.js';
export * from './snap/index.js';
// The lmdb backend (written separately) will be exported here:
// export * from './backend/index.js';
