export { Backend, backendFileName, backendTableNames, defaultMapSizeBytes, defragmentBatchBytes, defragmentBatchRecords } from './backend.js';
export type { BackendOptions, BackendTable, BackendTableName, DefragmentStep } from './backend.js';
export { BackendError, BackendCorruptError, DefragmentAbortedError } from './errors.js';
export { verifyBackendReadable } from './verify.js';
