export { Backend, backendFileName, backendTableNames, defaultMapSizeBytes } from './backend.js';
export type { BackendOptions, BackendTable, BackendTableName } from './backend.js';
export { BackendError, BackendCorruptError } from './errors.js';
export { verifyBackendReadable } from './verify.js';
