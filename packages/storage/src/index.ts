// Public API of @holdfast/storage.
export * from './errors.js';
export * from './wal/index.js';
export * from './snap/index.js';
// The lmdb backend.
export * from './backend/index.js';
