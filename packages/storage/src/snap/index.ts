export * from './snapshotter.js';
