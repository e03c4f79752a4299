/** Errors of the lmdb backend, prefixed `backend:` like etcd's package errors. */
export class BackendError extends Error {
  override name = 'BackendError';
}

/** The backend file cannot be opened or read: the server must not start. */
export class BackendCorruptError extends BackendError {
  override name = 'BackendCorruptError';
  readonly path: string;
  constructor(path: string, cause: unknown) {
    super(`backend: cannot open ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.path = path;
  }
}

/** close() was called while defragment() ran: the copy is dropped, the live file is unchanged. */
export class DefragmentAbortedError extends BackendError {
  override name = 'DefragmentAbortedError';
  constructor() {
    super('backend: defragment stopped because the backend is closing');
  }
}
