#!/usr/bin/env node
// Thin launcher so that npm can link the `holdfast-bench` command before the
// TypeScript sources are built; the program itself is dist/src/main.js.
import('../dist/src/main.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('holdfast-bench is not built yet: run `npm run build` at the repository root.');
    process.exit(1);
  }
  throw error;
});
