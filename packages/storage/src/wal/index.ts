export * from './format.js';
export * from './fs.js';
export * from './node-fs.js';
export * from './memory-fs.js';
export * from './wal.js';
